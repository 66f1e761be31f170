"""The request's user, roles and session come from the cache (portal/auth.py, cached_db, portal/cache.py).

The cache must never make a change to a user late, nor make the portal depend on Redis.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.cache import OutageTolerantRedisCache
from tests.factories import UserFactory
from tests.pages.helpers import HTMX, client_for

UNREACHABLE_REDIS = {
    "default": {"BACKEND": "portal.cache.OutageTolerantRedisCache", "LOCATION": "redis://127.0.0.1:1/0"},
    "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "test-unreachable"},
}


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()


def home(client):
    return client.get(reverse("pages:home"))


def test_a_signed_in_request_reads_no_user_or_role_after_the_first(sample_plan, engineer):
    client = client_for(engineer)
    home(client)
    with CaptureQueriesContext(connection) as queries:
        assert home(client).status_code == 200
    tables = " ".join(q["sql"] for q in queries)
    assert '"auth_user"' not in tables
    assert '"auth_group"' not in tables
    assert '"django_session"' not in tables


def test_a_deactivated_user_is_signed_out_on_their_next_request(sample_plan, engineer):
    client = client_for(engineer)
    assert home(client).status_code == 200
    engineer.is_active = False
    engineer.save()
    response = home(client)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_a_new_password_ends_the_users_other_sessions(sample_plan, engineer):
    client = client_for(engineer)
    assert home(client).status_code == 200
    engineer.set_password("a new and long passphrase")
    engineer.save()
    response = home(client)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_a_role_taken_away_through_the_group_is_gone_on_the_next_request(sample_plan, engineer, item):
    signoff = reverse("pages:item-signoff", kwargs={"pk": item.pk})
    client = client_for(engineer)
    assert home(client).status_code == 200
    Group.objects.get(name="engineer").user_set.remove(engineer)
    assert client.post(signoff, {"action": "tick"}).status_code == 403


def test_clearing_a_groups_members_forgets_each_of_them(sample_plan, engineer, item):
    signoff = reverse("pages:item-signoff", kwargs={"pk": item.pk})
    client = client_for(engineer)
    assert home(client).status_code == 200
    Group.objects.get(name="engineer").user_set.clear()
    assert client.post(signoff, {"action": "tick"}).status_code == 403


def test_a_deleted_user_is_signed_out(sample_plan):
    user = UserFactory(username="gone", role="engineer")
    client = client_for(user)
    assert home(client).status_code == 200
    user.delete()
    assert home(client).status_code == 302


def test_one_redis_client_serves_every_operation():
    backend = OutageTolerantRedisCache("redis://127.0.0.1:1/0", {})
    client = backend._cache
    assert client.get_client("a") is client.get_client("b")
    assert client.get_client("a", write=True) is client.get_client("b", write=True)


@override_settings(CACHES=UNREACHABLE_REDIS)
def test_with_redis_unreachable_pages_polls_and_ticks_still_work(sample_plan, engineer, item):
    url = item.gate.batch.get_absolute_url()
    client = client_for(engineer)
    assert client.get(url).status_code == 200
    assert client.get(url, {"v": "stale"}, **HTMX).status_code == 200
    tick = client.post(reverse("pages:item-signoff", kwargs={"pk": item.pk}), {"action": "tick", "note": "redis down"})
    assert tick.status_code == 302
    assert "redis down" in client.get(url).content.decode()
    # Signing out still ends the session.
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(url).status_code == 302
