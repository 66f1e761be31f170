from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The project package as an app: only so that the user cache's signals are connected in every process."""

    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from portal import auth  # noqa: F401  (connects the signals that keep the user cache true)
