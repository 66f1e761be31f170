"""Login throttling (django-axes), adapted to this portal.

Failed sign-ins are counted per account and, separately, per address; either
count reaching ``LOGIN_FAILURE_LIMIT`` locks that account or address out of
``/login/`` and ``/admin/login/`` for ``LOGIN_LOCKOUT_MINUTES``, after which it
is released by itself. A success clears the account's count. Release managers
see the lockouts, and clear them, on /account/lockouts/ (and in the admin).
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' check, skipped where there is no request to throttle (a management command's ``authenticate``)."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs
    ):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def client_ip(request: HttpRequest) -> str | None:
    """The address a sign-in came from: the proxy's last X-Forwarded-For entry when a proxy is trusted.

    Behind Render's router every request comes from the router's own address, so
    REMOTE_ADDR would lock everyone out together. The router appends the client's
    address as the last entry; entries before it are whatever the client sent, so
    only the last one is believed, and only when SECURE_PROXY_SSL_HEADER_TRUSTED says a proxy is there.
    """
    if settings.SECURE_PROXY_SSL_HEADER_TRUSTED:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.split(",")[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR")


def lockout_response(request: HttpRequest, credentials: dict | None = None, *args, **kwargs) -> HttpResponse:
    """The lockout page (429): says why, for how long, and who can lift it sooner."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    context = {
        "username": username,
        "failure_limit": settings.LOGIN_FAILURE_LIMIT,
        "minutes": settings.LOGIN_LOCKOUT_MINUTES,
    }
    response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(settings.LOGIN_LOCKOUT_MINUTES * 60)
    return response
