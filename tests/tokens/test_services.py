"""Personal API tokens: tokens.services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tokens.models import ApiToken
from tokens.services import (
    MAX_ACTIVE_PER_USER,
    TokenError,
    token_authenticate,
    token_create,
    token_digest,
    token_revoke,
)


def test_a_token_is_stored_only_as_its_digest(engineer):
    token, raw = token_create(user=engineer, name="wall dashboard")
    assert raw.startswith("gth_")
    assert len(raw) > 40
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert raw not in [str(value) for value in stored.values()]
    assert stored["digest"] == token_digest(raw)
    assert stored["prefix"] == raw[:12]
    assert token_authenticate(raw) == token


def test_wrong_revoked_and_inactive_tokens_do_not_authenticate(engineer, stakeholder):
    token, raw = token_create(user=engineer, name="bot")
    assert token_authenticate(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert token_authenticate("not-a-token") is None
    token_revoke(token=token, by=engineer)
    assert token_authenticate(raw) is None
    _other, other_raw = token_create(user=stakeholder, name="screen")
    stakeholder.is_active = False
    stakeholder.save()
    assert token_authenticate(other_raw) is None


def test_last_use_is_written_at_most_once_a_minute(engineer, django_assert_num_queries):
    token, raw = token_create(user=engineer, name="bot")
    assert token.last_used_at is None
    with django_assert_num_queries(2):  # the lookup and the first write
        token_authenticate(raw)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    with django_assert_num_queries(1):  # used again within the minute: no write
        token_authenticate(raw)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    token_authenticate(raw)
    token.refresh_from_db()
    assert token.last_used_at > first - timedelta(seconds=1)


def test_a_token_needs_a_name(engineer):
    with pytest.raises(TokenError, match="Name the token"):
        token_create(user=engineer, name="  ")
    with pytest.raises(TokenError, match="under 100 characters"):
        token_create(user=engineer, name="x" * 101)
    assert not ApiToken.objects.exists()


def test_the_number_of_active_tokens_is_limited(engineer):
    for n in range(MAX_ACTIVE_PER_USER):
        token_create(user=engineer, name=f"t{n}")
    with pytest.raises(TokenError, match="revoke one"):
        token_create(user=engineer, name="one too many")
    token_revoke(token=ApiToken.objects.filter(user=engineer).first(), by=engineer)
    token_create(user=engineer, name="room again")


def test_only_the_owner_revokes_and_only_once(engineer, release_manager):
    token, _ = token_create(user=engineer, name="bot")
    with pytest.raises(TokenError, match="Only the token's owner"):
        token_revoke(token=token, by=release_manager)
    token_revoke(token=token, by=engineer)
    assert token.revoked_at is not None
    assert token.revoked_at <= timezone.now()
    with pytest.raises(TokenError, match="already revoked"):
        token_revoke(token=ApiToken.objects.get(pk=token.pk), by=engineer)
