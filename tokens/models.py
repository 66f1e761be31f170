"""Personal API tokens: what a script or a wall dashboard sends instead of a session."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A token its owner created on their account page. Only its SHA-256 digest is stored.

    The token itself is shown once, on creation, and cannot be read back. A
    revoked token stays listed (with when it was revoked) and never works again.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the owner uses it for, e.g. “wall dashboard”")
    prefix = models.CharField(max_length=16, help_text="The token's first characters, to recognise it in a list")
    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token, hex")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user_id", "-created_at", "-pk"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
