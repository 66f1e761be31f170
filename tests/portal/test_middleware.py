"""portal/middleware.py: body limits and sign-in before any body is read; the 503 page."""

from __future__ import annotations

import io

import pytest
from django.db import OperationalError, connection
from django.test import Client

from portal.middleware import DatabaseUnavailableMiddleware, body_limit_for

pytestmark = pytest.mark.django_db

DECLARED_300_MB = 300 * 1024 * 1024


class CountingBody(io.RawIOBase):
    """A request body that claims to be huge and counts what the server reads of it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = min(len(buffer), 64 * 1024)
        buffer[:size] = b"x" * size
        self.read_bytes += size
        return size


@pytest.fixture
def no_spooling(monkeypatch):
    """Fail the test if Django starts a temporary upload file or parses a multipart body."""
    from django.core.files import uploadhandler
    from django.http import multipartparser

    def refuse(*args, **kwargs):
        raise AssertionError("the body was parsed or spooled")

    monkeypatch.setattr(uploadhandler.TemporaryFileUploadHandler, "new_file", refuse)
    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", refuse)


def post_declared(client: Client, path: str, length: int = DECLARED_300_MB, **extra):
    body = CountingBody()
    response = client.generic(
        "POST",
        path,
        b"x",
        content_type="multipart/form-data; boundary=BoUnDaRy",
        **{"wsgi.input": body, "CONTENT_LENGTH": str(length)},
        **extra,
    )
    return response, body


# Finding 3: an anonymous client made the server spool ~300 MB through each of /login/ and /import/.
@pytest.mark.parametrize("path", ["/login/", "/import/", "/admin/login/", "/webhooks/github/"])
def test_anonymous_oversized_bodies_are_refused_without_being_read(client, no_spooling, path):
    response, body = post_declared(client, path)
    assert response.status_code == 413
    assert body.read_bytes == 0


@pytest.mark.parametrize("path", ["/import/", "/items/1/signoff/", "/items/1/evidence/", "/gates/1/waive/"])
def test_an_anonymous_body_is_refused_before_it_is_read_even_within_the_limit(client, no_spooling, path):
    response, body = post_declared(client, path, length=10_000)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert body.read_bytes == 0


def test_signed_in_users_get_each_endpoints_own_limit(client, release_manager, no_spooling):
    client.force_login(release_manager)
    response, body = post_declared(client, "/import/", length=2 * 1024 * 1024)
    assert response.status_code == 413
    assert "accepts at most 1,114,112" in response.content.decode()
    assert body.read_bytes == 0
    response, body = post_declared(client, "/gates/1/waive/", length=200 * 1024)
    assert response.status_code == 413
    assert body.read_bytes == 0


def test_limits_per_endpoint(settings):
    assert body_limit_for("pages:plan-import") == 1024 * 1024 + 64 * 1024
    assert body_limit_for("batches:github-webhook") == 25 * 1024 * 1024
    assert body_limit_for("pages:evidence-upload") == settings.EVIDENCE_MAX_BYTES + 64 * 1024
    assert body_limit_for("login") == 16 * 1024
    assert body_limit_for("pages:item-signoff") == settings.REQUEST_BODY_MAX_BYTES == 100 * 1024


def test_a_login_within_its_limit_still_works(client, engineer):
    engineer.set_password("a-long-password-1")
    engineer.save()
    response = client.post("/login/", {"username": "eddie", "password": "a-long-password-1"})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_a_bad_content_length_is_a_400(client):
    response = client.generic("POST", "/login/", b"x", CONTENT_LENGTH="lots")
    assert response.status_code == 400


# Finding 9 (last point): with PostgreSQL down users got a bare "Server Error (500)".
def test_a_database_that_cannot_be_reached_gets_a_503_page_and_the_portal_recovers(engineer, sample_plan, monkeypatch):
    client = Client(raise_request_exception=False)
    client.force_login(engineer)

    def unreachable():
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')

    monkeypatch.setattr(connection, "ensure_connection", unreachable)
    response = client.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert "Gatehouse cannot reach its database" in response.content.decode()
    monkeypatch.undo()  # the database is back: nothing restarted
    assert client.get("/").status_code == 200


def test_a_view_that_loses_the_database_gets_the_503_page(rf):
    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    response = middleware.process_exception(rf.get("/"), OperationalError("the database system is shutting down"))
    assert response is not None
    assert response.status_code == 503
    assert middleware.process_exception(rf.get("/"), ValueError("not ours")) is None
