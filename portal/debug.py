"""Error reports that never show a secret, not even Django's debug page."""

from __future__ import annotations

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter


class AlwaysSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Hide what ``sensitive_variables``/``sensitive_post_parameters`` mark, with DEBUG on too.

    Django's filter stands down when DEBUG is on, so its debug page shows every
    local variable: the webhook's secret, a client's bearer token. DEBUG is off by
    default, but a debug page left on must still not hand those to a stranger.
    """

    def is_active(self, request: HttpRequest | None) -> bool:
        return True
