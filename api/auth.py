"""Who is calling the API, may they, and how often: personal tokens, the pages' role checks, a rate limit.

Token authentication is not session authentication: there is no cookie, so
CSRF does not apply, and the API's views are exempt from LoginRequiredMiddleware
(they answer 401 themselves rather than redirecting to the login page).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja.errors import AuthenticationError, AuthorizationError
from ninja.security import HttpBearer
from ninja.throttling import BaseThrottle

from portal.cache import CACHE_ERRORS
from portal.roles import denial_reason, user_can
from tokens.models import ApiToken
from tokens.services import token_authenticate

MISSING = (
    "Send a personal API token in the Authorization header (Authorization: Bearer <token>). "
    "Create one on your account's API tokens page."
)
INVALID = "The token is not valid: it is wrong, or it was revoked."
WINDOW_SECONDS = 60

logger = logging.getLogger(__name__)


class TokenAuth(HttpBearer):
    """``Authorization: Bearer gth_…``: a personal token, looked up by its digest. Raises 401 with a reason."""

    def __call__(self, request: HttpRequest) -> ApiToken:
        header = request.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        if not header:
            raise AuthenticationError(message=MISSING)
        if scheme.lower() != "bearer" or not raw.strip():
            raise AuthenticationError(message="Send the token as Authorization: Bearer <token>.")
        return self.authenticate(request, raw.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        found = token_authenticate(token)
        if found is None:
            raise AuthenticationError(message=INVALID)
        # The role checks read request.user, as the pages' do.
        request.user = found.user
        return found


def require(request: HttpRequest, action: str) -> None:
    """The pages' role check (``portal.roles.user_can``); 403 with the same sentence when it fails."""
    if not user_can(request.user, action):
        raise AuthorizationError(message=denial_reason(action))


class TokenRateLimit(BaseThrottle):
    """At most ``API_RATE_LIMIT_PER_MINUTE`` requests per token per clock minute, counted in Django's cache.

    ``cache.add`` then ``cache.incr`` is atomic on Redis and in locmem, so
    parallel requests cannot both take the last slot. The limit is read per
    request, never at import.

    With Redis unreachable the API stays up: each process counts on its own
    (``_local_count``) until Redis answers again, so a token may make up to the
    limit per process for that while. A limit that failed closed would lock every
    script out; one that answered 500 (as it did) lost every read.
    """

    def allow_request(self, request: HttpRequest) -> bool:
        token: ApiToken = request.auth  # type: ignore[attr-defined]  # set by TokenAuth before throttling
        window = int(time.time() // WINDOW_SECONDS)
        # The digest, not the pk: unique for ever, so no two tokens ever share a count.
        key = f"api-rate:{token.digest[:32]}:{window}"
        try:
            count = _shared_count(key)
        except CACHE_ERRORS as error:
            count = _local_count(key, window, error)
        return count <= settings.API_RATE_LIMIT_PER_MINUTE

    def wait(self) -> float:
        return WINDOW_SECONDS - time.time() % WINDOW_SECONDS


def _shared_count(key: str) -> int:
    cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=WINDOW_SECONDS * 2)
        return 1


_local_lock = threading.Lock()
_local_counts: dict[str, int] = {}


def _local_count(key: str, window: int, error: Exception) -> int:
    """This process's count for ``key``, for while the shared cache cannot be reached."""
    with _local_lock:
        if key not in _local_counts:
            # Once per token and minute in each process, not once a request.
            logger.warning("API rate limit counted per process: the cache is unreachable (%s).", error)
            for old in [k for k in _local_counts if not k.endswith(f":{window}")]:
                del _local_counts[old]  # counts of past minutes are done with
        _local_counts[key] = _local_counts.get(key, 0) + 1
        return _local_counts[key]


def schema_access[**P](view: Callable[P, HttpResponse]) -> Callable[P, HttpResponse]:
    """The OpenAPI document: for a signed-in browser session or a valid token, 401 otherwise."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        request: Any = args[0]
        if not request.user.is_authenticated:
            try:
                TokenAuth()(request)
            except AuthenticationError as exc:
                return unauthorized(str(exc))
        return view(*args, **kwargs)

    return wrapper


def unauthorized(message: str) -> HttpResponse:
    response = JsonResponse({"detail": message}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="Gatehouse API"'
    return response
