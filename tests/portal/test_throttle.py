"""Login throttling (portal/throttle.py, django-axes): per account and per address, with a cool-down."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "the-right-password-42"


@pytest.fixture
def member(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = UserFactory(username="maria", role="engineer")
    user.set_password(PASSWORD)
    user.save()
    return user


def sign_in(password: str, *, username: str = "maria", address: str = "203.0.113.5", path: str = "/login/"):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


# Finding 4: no rate limit or lockout; the right password still worked after 200 wrong ones.
@pytest.fixture
def clock(monkeypatch):
    """Move the clock that Django (and so django-axes) reads, forward."""
    from django.utils import timezone

    real_now = timezone.now
    offset = [timedelta(0)]
    monkeypatch.setattr(timezone, "now", lambda: real_now() + offset[0])
    monkeypatch.setattr("axes.attempts.now", lambda: real_now() + offset[0])
    monkeypatch.setattr("axes.handlers.proxy.now", lambda: real_now() + offset[0])

    class Clock:
        def shift(self, delta: timedelta) -> None:
            offset[0] += delta

    return Clock()


def test_an_account_is_locked_after_n_failures_and_released_after_the_cool_down(member, settings, clock):
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        assert sign_in("wrong").status_code == 200  # the form again, with its error
    locked = sign_in("wrong")
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert f"Try again in {settings.LOGIN_LOCKOUT_MINUTES} minutes" in locked.content.decode()
    assert locked["Retry-After"] == str(settings.LOGIN_LOCKOUT_MINUTES * 60)
    # The right password does not help now, nor does another address for this account.
    assert sign_in(PASSWORD).status_code == 429
    assert sign_in(PASSWORD, address="198.51.100.7").status_code == 429
    assert sign_in(PASSWORD, path="/admin/login/").status_code == 429

    clock.shift(timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES, seconds=1))
    response = sign_in(PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_an_address_is_locked_whatever_account_it_tries(member, settings):
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        sign_in("wrong", username=f"guess-{n}")
    assert sign_in(PASSWORD).status_code == 429  # the right account, from that address
    assert sign_in(PASSWORD, address="198.51.100.7").status_code == 302  # from elsewhere it works


def test_a_success_clears_the_accounts_count(member, settings):
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        sign_in("wrong")
    assert sign_in(PASSWORD).status_code == 302
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        assert sign_in("wrong", address="198.51.100.9").status_code == 200


def test_behind_a_trusted_proxy_the_clients_address_counts_not_the_proxys(member, settings):
    settings.SECURE_PROXY_SSL_HEADER_TRUSTED = True
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.5").post(
            "/login/", {"username": f"guess-{n}", "password": "x"}
        )
    assert AccessAttempt.objects.filter(ip_address="203.0.113.5").exists()
    ok = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.77").post(
        "/login/", {"username": "maria", "password": PASSWORD}
    )
    assert ok.status_code == 302


def test_authenticate_without_a_request_still_works(member):
    # Management commands and scripts have no request to throttle.
    assert authenticate(username="maria", password=PASSWORD) == member


def lock_out(settings):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        sign_in("wrong")
    return AccessAttempt.objects.get(username="maria")


def test_release_managers_see_and_clear_lockouts(client, member, release_manager, settings):
    attempt = lock_out(settings)
    client.force_login(release_manager)
    page = client.get("/account/lockouts/")
    assert page.status_code == 200
    assert "maria" in page.content.decode()
    assert "203.0.113.5" in page.content.decode()
    response = client.post(f"/account/lockouts/{attempt.pk}/clear/")
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert sign_in(PASSWORD).status_code == 302
    assert "Nobody is locked out" in client.get("/account/lockouts/").content.decode()


@pytest.mark.parametrize("persona", ["engineer", "ops", "stakeholder", "outsider"])
def test_other_roles_may_not_see_or_clear_lockouts(client, member, settings, persona, request):
    attempt = lock_out(settings)
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/account/lockouts/").status_code == 403
    assert client.post(f"/account/lockouts/{attempt.pk}/clear/").status_code == 403
    assert AccessAttempt.objects.exists()


def test_lockouts_anonymous_and_wrong_method(client, release_manager):
    assert client.get("/account/lockouts/")["Location"].startswith("/login/")
    assert client.post("/account/lockouts/1/clear/")["Location"].startswith("/login/")
    client.force_login(release_manager)
    assert client.post("/account/lockouts/").status_code == 405
    assert client.get("/account/lockouts/1/clear/").status_code == 405
    assert client.post("/account/lockouts/999/clear/").status_code == 404
