"""Creating, revoking and checking personal API tokens.

A token is 32 random bytes (``gth_`` + URL-safe base64). What is stored is its
SHA-256: a slow password hash buys nothing for a secret nobody can guess, and
every API request looks its token up, so the lookup must be one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from portal.roles import Actor
from tokens.models import ApiToken

TOKEN_PREFIX = "gth_"
# The first characters shown in lists ("gth_" and 8 more).
SHOWN_CHARS = len(TOKEN_PREFIX) + 8
NAME_MAX = 100
# A user's active tokens: enough for every script and screen, few enough to keep track of.
MAX_ACTIVE_PER_USER = 20
# ``last_used_at`` is written at most this often per token, so polling costs no write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(Exception):
    """A token could not be created or revoked; nothing was written. ``str()`` is a sentence for people."""


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(*, user: Actor, name: str) -> tuple[ApiToken, str]:
    """Create a token named ``name`` for ``user``; returns it and the token itself, which is never shown again."""
    name = (name or "").strip()
    if not name:
        raise TokenError("Name the token after what will use it, e.g. “wall dashboard”.")
    if len(name) > NAME_MAX:
        raise TokenError(f"Keep the name under {NAME_MAX} characters.")
    with transaction.atomic():
        # Locks the user's row so two concurrent creations cannot both pass the limit.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_ACTIVE_PER_USER:
            raise TokenError(f"You have {MAX_ACTIVE_PER_USER} active tokens; revoke one you no longer use first.")
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken.objects.create(user=user, name=name, prefix=raw[:SHOWN_CHARS], digest=token_digest(raw))
    return token, raw


def token_revoke(*, token: ApiToken, by: Actor) -> None:
    """Revoke ``token`` for good. Only its owner may; a revoked token cannot be revoked again."""
    if token.user_id != by.pk:
        raise TokenError("Only the token's owner can revoke it.")
    now = timezone.now()
    # Conditional: of two concurrent revocations, one writes and the other is told.
    if not ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
        raise TokenError(f"The token “{token.name}” is already revoked.")
    token.revoked_at = now


def token_authenticate(raw: str) -> ApiToken | None:
    """The active token ``raw`` is, with its user loaded; None when it is wrong, revoked or its user inactive."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=token_digest(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
