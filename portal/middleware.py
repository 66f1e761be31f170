"""Request guards that run before any view, and the page shown when the database is away.

``RequestBodyGuardMiddleware`` decides from the headers alone, before anything
reads the body: ``CsrfViewMiddleware`` parses ``request.POST`` in
``process_view`` (spooling a large multipart body to a temporary file), so a
limit checked by a view, or by ``LoginRequiredMiddleware`` (also a
``process_view``), comes after the cost has been paid. Middleware ``__call__``
runs before every ``process_view``.

``DatabaseUnavailableMiddleware`` turns a database that cannot be reached into a
503 page that says so; ``server_error`` does the same for the errors Django
catches outside views (a session lookup in a middleware, say). Django closes a
connection that errored at the end of the request, so the next request
connects afresh and the portal recovers by itself once the database is back.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.urls import Resolver404, resolve
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
DATABASE_DOWN_RETRY_AFTER_SECONDS = 10


def _content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


def body_limit_for(url_name: str | None) -> int:
    """The largest body, in bytes, the endpoint named ``url_name`` accepts."""
    return settings.REQUEST_BODY_LIMITS.get(url_name or "", settings.REQUEST_BODY_MAX_BYTES)


class RequestBodyGuardMiddleware:
    """Refuse, from the headers alone, a body too large for its endpoint or sent by a stranger.

    Per endpoint (its URL name in ``REQUEST_BODY_LIMITS``, otherwise
    ``REQUEST_BODY_MAX_BYTES``) a declared ``Content-Length`` over the limit is
    answered 413 without reading a byte. A body sent without a length is never
    read by Django's WSGI request (it reads ``Content-Length`` bytes), so it
    costs nothing either. An anonymous request that is not a GET is redirected to
    the login page before its body is read, except at the endpoints in
    ``ANONYMOUS_BODY_URL_NAMES`` (the login forms and the signed webhook) and
    the JSON API, which authenticates each request by its token, not a session.
    Place it after ``AuthenticationMiddleware`` (it asks whether the user is
    signed in, which reads the session, never the body).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = self.refusal(request)
        return refusal if refusal is not None else self.get_response(request)

    def refusal(self, request: HttpRequest) -> HttpResponse | None:
        length = _content_length(request)
        if length is None:
            return HttpResponse("Content-Length is not a number.", status=400, content_type="text/plain")
        if request.method in SAFE_METHODS and not length:
            return None
        try:
            match = resolve(request.path_info, getattr(request, "urlconf", None))
        except Resolver404:
            return None  # a 404 reads no body
        url_name = match.view_name
        limit = body_limit_for(url_name)
        if length > limit:
            return HttpResponse(
                f"The request is {length:,} bytes; this address accepts at most {limit:,}.",
                status=413,
                content_type="text/plain",
            )
        if (
            request.method not in SAFE_METHODS
            and url_name not in settings.ANONYMOUS_BODY_URL_NAMES
            # A view made for strangers (``@login_not_required``: health, readiness) answers
            # for itself; those take no body (a POST is their own 405).
            and getattr(match.func, "login_required", True)
            and not set(match.namespaces) & settings.TOKEN_AUTHENTICATED_NAMESPACES
        ):
            user = getattr(request, "user", None)
            if user is None or not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
        return None


def database_unavailable_response(request: HttpRequest | None = None) -> HttpResponse:
    """The 503 page: plain, rendered without the database (no user, no session, no context processors)."""
    response = HttpResponse(loader.render_to_string("503.html"), status=503)
    response["Retry-After"] = str(DATABASE_DOWN_RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """A view that cannot reach the database answers the 503 page instead of a bare 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OperationalError | InterfaceError):
            logger.error("Database unavailable: %s", exception)
            return database_unavailable_response(request)
        return None


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the 503 page when the error is the database being away (outside a view), else Django's."""
    error = sys.exc_info()[1]
    if isinstance(error, OperationalError | InterfaceError):
        return database_unavailable_response(request)
    return defaults.server_error(request)


# The name of the marker cookie below; pages/live.py reads it.
WROTE_COOKIE = "gatehouse_wrote"
WROTE_COOKIE_SECONDS = 2


class WroteCookieMiddleware:
    """Marks, for a couple of seconds, the browser that just changed something.

    Open pages share one reading of their plan's version for a fraction of a second
    (``LIVE_VERSION_CACHE_MS``), and whole pages are served from the cache by that
    reading. Whoever just ticked, uploaded or decided must see it on the very next
    page, so a successful write from a signed-in browser sets this short-lived
    cookie, holding when the write was answered (after its commit), in
    milliseconds since the epoch. While it is there, that browser's pages and polls
    take only a reading started after that moment: the first one after the write
    reads the version afresh (and shares it), the next ones use what it shared. A
    forged value costs its sender a query per request, nothing more.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if (
            request.method not in SAFE_METHODS
            and response.status_code < 400
            and user is not None
            and user.is_authenticated
        ):
            response.set_cookie(
                WROTE_COOKIE,
                str(int(time.time() * 1000)),
                max_age=WROTE_COOKIE_SECONDS,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response
