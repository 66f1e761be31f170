"""The one HTTP wrapper every provider client uses.

It owns what all three providers have in common: timeouts, conditional
requests (ETag / If-None-Match, the last body kept in a :class:`ConditionalStore`
the caller hands in), rate-limit handling and turning transport problems into
the provider exception types below. Nothing outside ``providers`` sees httpx.

This package imports no model: whatever needs the database (the ETag store) is
handed in by the caller. Settings are read at call time only.
"""

from __future__ import annotations

import email.utils
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from django.conf import settings


class ProviderError(Exception):
    """A provider call failed. ``str()`` is a sentence a release manager can act on.

    ``retryable`` says whether the same call may simply be made again later (the
    Celery tasks read it); an instance can override its class's default.
    """

    retryable: bool = False

    def __init__(
        self, message: str, *, provider: str = "", status: int | None = None, retryable: bool | None = None
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        if retryable is not None:
            self.retryable = retryable


class RateLimited(ProviderError):
    """403/429 rate limiting: do not call again for ``retry_after`` seconds.

    The provider refused the request without acting on it, so even a POST may be sent again.
    """

    retryable = True

    def __init__(self, message: str, *, retry_after: float, provider: str = "", status: int | None = None) -> None:
        super().__init__(message, provider=provider, status=status)
        self.retry_after = max(0.0, retry_after)


class Unavailable(ProviderError):
    """5xx, timeouts and connection failures: worth retrying with backoff.

    Except after a POST that may have reached the provider (it timed out, or a
    5xx came back): the POST may have been applied, and sending it again could
    comment twice, so that error is not retryable and says so.
    """

    retryable = True


class MalformedResponse(ProviderError):
    """The provider answered, but not with the JSON shape we expect."""


# -- request accounting ----------------------------------------------------------


@dataclass
class ProviderStats:
    requests: int = 0
    not_modified: int = 0
    # GitHub counts every response except a 304 to a conditional request
    # against the primary rate limit; this is what the benchmark watches.
    counted: int = 0


@dataclass
class _Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    by_provider: dict[str, ProviderStats] = field(default_factory=dict)


_stats = _Stats()


def request_stats(provider: str) -> ProviderStats:
    """A copy of the counters for ``provider`` since the last reset."""
    with _stats.lock:
        current = _stats.by_provider.get(provider, ProviderStats())
        return ProviderStats(current.requests, current.not_modified, current.counted)


def reset_request_stats() -> None:
    with _stats.lock:
        _stats.by_provider.clear()


def _count(provider: str, *, not_modified: bool) -> None:
    with _stats.lock:
        entry = _stats.by_provider.setdefault(provider, ProviderStats())
        entry.requests += 1
        if not_modified:
            entry.not_modified += 1
        else:
            entry.counted += 1


# -- rate limits -------------------------------------------------------------------

_SECONDARY_LIMIT_WORDS = re.compile(r"rate limit|abuse|too many requests", re.IGNORECASE)
# GitHub's guidance for a secondary limit with no headers: wait at least a minute.
_DEFAULT_RATE_LIMIT_WAIT = 60.0


def _header_float(headers: httpx.Headers, name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        # retry-after may also be an HTTP date.
        return email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def rate_limit_delay(response: httpx.Response) -> float | None:
    """Seconds to wait when ``response`` says we are rate limited, else None.

    - ``retry-after`` (GitHub secondary limits, Render, RFC 9110): seconds or an HTTP date.
    - ``x-ratelimit-remaining: 0`` with ``x-ratelimit-reset``: UTC epoch seconds (GitHub, Sentry's
      ``x-sentry-rate-limit-reset`` likewise).
    - Render's ``Ratelimit-Reset`` is documented as epoch seconds but every recorded value is
      seconds-until-reset (0, 9, 33…), so small values are read as a delay.
    """
    status = response.status_code
    if status not in (403, 429):
        return None
    headers = response.headers
    retry_after = _header_float(headers, "retry-after")
    if retry_after is not None:
        return retry_after
    now = time.time()
    for remaining_name, reset_name in (
        ("x-ratelimit-remaining", "x-ratelimit-reset"),
        ("x-sentry-rate-limit-remaining", "x-sentry-rate-limit-reset"),
    ):
        if headers.get(remaining_name) == "0":
            reset = _header_float(headers, reset_name)
            if reset is not None:
                return max(0.0, reset - now)
    render_reset = _header_float(headers, "ratelimit-reset")
    if render_reset is not None and (status == 429 or headers.get("ratelimit-remaining") == "0"):
        # A value in the far past/future is an epoch; a small one is seconds-until.
        return render_reset if render_reset < 1_000_000 else max(0.0, render_reset - now)
    if status == 429 or _SECONDARY_LIMIT_WORDS.search(response.text[:2000]):
        return _DEFAULT_RATE_LIMIT_WAIT
    return None


@dataclass(frozen=True)
class RateLimitStatus:
    """What a provider's headers said about its rate limit, read from one response.

    ``remaining``/``limit``/``reset_at`` come from ``x-ratelimit-*`` (GitHub sends them on
    every answer, a 304 included); ``retry_at`` is set when the answer was a refusal
    (``retry-after``, or ``x-ratelimit-remaining: 0``): nothing more may be sent before it.
    Times are UTC epoch seconds.
    """

    remaining: int | None = None
    limit: int | None = None
    reset_at: float | None = None
    resource: str = ""
    retry_at: float | None = None


def _header_int(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def rate_limit_status(response: httpx.Response, *, now: float | None = None) -> RateLimitStatus | None:
    """The rate-limit news in ``response``'s headers, or None when it carries none."""
    now = time.time() if now is None else now
    headers = response.headers
    remaining = _header_int(headers, "x-ratelimit-remaining")
    limit = _header_int(headers, "x-ratelimit-limit")
    reset = _header_int(headers, "x-ratelimit-reset")
    delay = rate_limit_delay(response)
    if remaining is None and delay is None:
        return None
    return RateLimitStatus(
        remaining=remaining,
        limit=limit,
        reset_at=float(reset) if reset is not None else None,
        resource=headers.get("x-ratelimit-resource", ""),
        retry_at=now + delay if delay is not None else None,
    )


class RateLimitLedger(Protocol):
    """Where a client reports the rate-limit headers it sees, so the poller can pace itself.

    The portal hands in one shared by every worker (``batches.polling``); without one
    the headers are only read to raise :class:`RateLimited`.
    """

    def record(self, provider: str, status: RateLimitStatus) -> None: ...


# -- conditional requests -----------------------------------------------------------


@dataclass(frozen=True)
class Cached:
    """The last 200 answer to a GET: what a conditional request sends, and the body a 304 stands for."""

    etag: str
    last_modified: str
    link: str
    body: str


class ConditionalStore(Protocol):
    """Where conditional GETs keep their last answer, one entry per full URL (query included).

    The portal hands in one over the database (``batches.conditional_cache``);
    the clients never import it. Without a store no request is conditional.
    """

    def get(self, url: str) -> Cached | None: ...

    def put(self, url: str, *, etag: str, last_modified: str, link: str, body: str) -> None: ...


# -- the client --------------------------------------------------------------------


@dataclass
class Page:
    data: Any
    next_url: str | None
    not_modified: bool


_LINK = re.compile(r"<(?P<url>[^>]+)>(?P<params>[^,]*)")


def next_link(link_header: str | None) -> str | None:
    """The ``rel="next"`` URL of an RFC 8288 ``Link`` header (GitHub, Sentry), honouring Sentry's results="false"."""
    if not link_header:
        return None
    for match in _LINK.finditer(link_header):
        params = match.group("params")
        if re.search(r'rel="?next"?', params):
            if re.search(r'results="false"', params):
                return None
            return match.group("url")
    return None


def _full_url(base_url: str, path: str, params: dict[str, Any] | None) -> str:
    url = path if path.startswith(("http://", "https://")) else base_url.rstrip("/") + "/" + path.lstrip("/")
    if params:
        # Sorted so the same request always maps to the same conditional-cache row.
        query = urlencode(sorted((k, v) for k, v in params.items() if v is not None), doseq=True)
        url = f"{url}{'&' if '?' in url else '?'}{query}"
    return url


class HttpClient:
    """JSON requests against one provider. Use as a context manager, or call ``close()``.

    GETs are conditional when a ``store`` is given. POST and PATCH share the
    GETs' timeout, exceptions and rate-limit handling. Nothing here retries:
    the Celery tasks do, with backoff, reading ``ProviderError.retryable``.
    """

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        store: ConditionalStore | None = None,
        ledger: RateLimitLedger | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url
        self.store = store
        self.ledger = ledger
        seconds = settings.PROVIDER_TIMEOUT_SECONDS if timeout is None else timeout
        self._client = httpx.Client(
            headers={"User-Agent": "gatehouse", **(headers or {})},
            timeout=httpx.Timeout(seconds),
            follow_redirects=True,
        )

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- reading -------------------------------------------------------------------

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.get_page(path, params).data

    def get_all(self, path: str, params: dict[str, Any] | None = None, *, max_pages: int = 10) -> list[Any]:
        """Every page of a paginated list endpoint (``Link: rel="next"``), one list per page."""
        pages = []
        page = self.get_page(path, params)
        pages.append(page.data)
        while page.next_url and len(pages) < max_pages:
            page = self.get_page(page.next_url)
            pages.append(page.data)
        return pages

    def get_page(self, path: str, params: dict[str, Any] | None = None) -> Page:
        url = _full_url(self.base_url, path, params)
        cached = self.store.get(url) if self.store is not None else None
        headers = {}
        if cached is not None:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified
        response = self._send("GET", url, headers=headers)
        if response.status_code == 304 and cached is not None:
            # A 304 may omit Link, so the next page comes from the stored response.
            return Page(self._decode(cached.body, url), next_link(cached.link), True)
        self._raise_for_status(response, "GET", url)
        data = self._decode(response.text, url)
        if self.store is not None and (response.headers.get("etag") or response.headers.get("last-modified")):
            self.store.put(
                url,
                etag=response.headers.get("etag", ""),
                last_modified=response.headers.get("last-modified", ""),
                link=response.headers.get("link", ""),
                body=response.text,
            )
        return Page(data, next_link(response.headers.get("link")), False)

    # -- writing -------------------------------------------------------------------

    def post_json(self, path: str, payload: Any) -> Any:
        """POST ``payload`` as JSON; the decoded answer (None for an empty one).

        Never sent twice: an error that leaves it unknown whether the provider
        acted on it is raised with ``retryable`` False (see :class:`Unavailable`).
        """
        return self._write("POST", path, payload)

    def patch_json(self, path: str, payload: Any) -> Any:
        """PATCH ``payload`` as JSON; the decoded answer (None for an empty one). Setting fields twice is harmless."""
        return self._write("PATCH", path, payload)

    def post_raw(self, path: str, payload: Any) -> httpx.Response:
        """POST ``payload`` as JSON and hand back the response whatever its status.

        For webhooks that answer in plain text (Slack says ``ok``): their own
        client module reads the answer. Transport errors raise as for any POST.
        """
        return self._send("POST", _full_url(self.base_url, path, None), json_body=payload)

    def _write(self, method: str, path: str, payload: Any) -> Any:
        url = _full_url(self.base_url, path, None)
        response = self._send(method, url, json_body=payload)
        self._raise_for_status(response, method, url)
        if not response.content:
            return None  # 204 No Content
        return self._decode(response.text, url, method=method)

    # -- shared --------------------------------------------------------------------

    def _send(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, json_body: Any = None
    ) -> httpx.Response:
        what = _path(url) if method == "GET" else f"{method} {_path(url)}"
        try:
            response = self._client.request(method, url, headers=headers, json=json_body)
        except httpx.TimeoutException as exc:
            # A POST that timed out after connecting may have been applied; one that
            # never connected was not sent at all and may be sent again.
            unsent = isinstance(exc, httpx.ConnectTimeout)
            raise Unavailable(
                f"{self.provider} did not answer within {self._client.timeout.read} s ({what})."
                + _maybe_applied(method, unsent=unsent),
                provider=self.provider,
                retryable=unsent or method != "POST",
            ) from exc
        except httpx.TransportError as exc:
            unsent = isinstance(exc, httpx.ConnectError)
            raise Unavailable(
                f"Could not reach {self.provider}: {exc}." + _maybe_applied(method, unsent=unsent),
                provider=self.provider,
                retryable=unsent or method != "POST",
            ) from exc
        _count(self.provider, not_modified=response.status_code == 304)
        if self.ledger is not None and (status := rate_limit_status(response)) is not None:
            self.ledger.record(self.provider, status)
        return response

    def _decode(self, text: str, url: str, *, method: str = "GET") -> Any:
        try:
            return json.loads(text)
        except ValueError as exc:
            what = _path(url) if method == "GET" else f"{method} {_path(url)}"
            raise MalformedResponse(
                f"{self.provider} answered {what} with something that is not JSON.", provider=self.provider
            ) from exc

    def _raise_for_status(self, response: httpx.Response, method: str, url: str) -> None:
        status = response.status_code
        if status < 400:
            return
        delay = rate_limit_delay(response)
        if delay is not None:
            raise RateLimited(
                f"{self.provider} rate limit reached; retrying in {round(delay)} s.",
                retry_after=delay,
                provider=self.provider,
                status=status,
            )
        if status >= 500:
            raise Unavailable(
                f"{self.provider} is unavailable (HTTP {status})." + _maybe_applied(method, unsent=False),
                provider=self.provider,
                status=status,
                retryable=method != "POST",
            )
        if status == 401:
            raise ProviderError(
                f"{self.provider} rejected the credentials (HTTP 401); check the token.",
                provider=self.provider,
                status=status,
            )
        if status == 404:
            raise ProviderError(
                f"{self.provider} has no {_path(url)} (HTTP 404); check the configured names and the token's access.",
                provider=self.provider,
                status=status,
            )
        if method != "GET":
            # A refused write usually says why (GitHub's 422 "Validation Failed", with the field).
            raise ProviderError(
                f"{self.provider} refused {method} {_path(url)} (HTTP {status}){_reason(response)}.",
                provider=self.provider,
                status=status,
            )
        raise ProviderError(
            f"{self.provider} refused {_path(url)} (HTTP {status}).", provider=self.provider, status=status
        )


def _maybe_applied(method: str, *, unsent: bool) -> str:
    if method != "POST" or unsent:
        return ""
    return " It may have been applied: look before sending it again."


def _reason(response: httpx.Response) -> str:
    """``: <the provider's message>`` from a JSON error body, or nothing."""
    try:
        data = response.json()
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    message = data.get("message")
    errors = data.get("errors")
    parts = [message] if isinstance(message, str) and message else []
    if isinstance(errors, list):
        parts += [e["message"] for e in errors if isinstance(e, dict) and isinstance(e.get("message"), str)]
    text = "; ".join(parts)[:300]
    return f": {text}" if text else ""


def _path(url: str) -> str:
    return httpx.URL(url).path
