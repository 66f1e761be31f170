"""Liveness and readiness: pages.views.health."""

from __future__ import annotations

import socket

import pytest
from django.db import OperationalError, connection
from django.urls import reverse

from tests.pages.helpers import client_for


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _refuse(*args, **kwargs):
    # The database going away, as psycopg reports it (with a host an outsider must not see).
    raise OperationalError('connection to server at "db.internal" (10.0.0.7), port 5432 failed')


# -- /healthz/: liveness ---------------------------------------------------------------


def test_healthz_is_public_and_touches_no_database(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client_for().get(reverse("pages:healthz"))
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]
    assert "Set-Cookie" not in response  # no session, no CSRF cookie: it reveals nothing


def test_healthz_answers_while_the_database_is_down(db, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(connection, "cursor", _refuse)
        assert client_for().get(reverse("pages:healthz")).status_code == 200


def test_healthz_refuses_post(db):
    assert client_for().post(reverse("pages:healthz")).status_code == 405


# -- /readyz/: readiness -----------------------------------------------------------------


def test_readyz_is_public_and_checks_the_database(db, settings, django_assert_num_queries):
    settings.CELERY_BROKER_URL = None
    with django_assert_num_queries(1):
        response = client_for().get(reverse("pages:readyz"))
    assert response.status_code == 200
    assert response.content == b"ready\n"


def test_readyz_names_the_database_when_it_is_down_and_nothing_more(db, settings, monkeypatch):
    settings.CELERY_BROKER_URL = None
    with monkeypatch.context() as patch:
        patch.setattr(connection, "cursor", _refuse)
        response = client_for().get(reverse("pages:readyz"))
    assert response.status_code == 503
    assert response.content == b"unavailable: database\n"


# With Redis down the pages still work, but a failing readiness check would have had the platform stop
# routing to (and restart) every web instance: a Redis outage made an outage of everything.
def test_readyz_stays_ready_and_names_the_broker_when_it_does_not_answer(db, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/15"
    response = client_for().get(reverse("pages:readyz"))
    assert response.status_code == 200
    assert response.content == b"ready; degraded: broker\n"
    assert b"127.0.0.1" not in response.content


def test_readyz_names_both_when_both_are_down(db, settings, monkeypatch):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/15"
    with monkeypatch.context() as patch:
        patch.setattr(connection, "cursor", _refuse)
        response = client_for().get(reverse("pages:readyz"))
    assert response.status_code == 503
    assert response.content == b"unavailable: database; degraded: broker\n"


def test_readyz_is_ready_with_a_live_broker(db, settings):
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"
    assert client_for().get(reverse("pages:readyz")).status_code == 200


def test_readyz_refuses_post(db):
    assert client_for().post(reverse("pages:readyz")).status_code == 405
