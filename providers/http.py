"""The one HTTP wrapper every provider client uses.

It owns what all three providers have in common: timeouts, conditional
requests (ETag / If-None-Match with the last body kept in the database),
rate-limit handling and turning transport problems into the provider
exception types below. Nothing outside ``providers`` sees httpx.
"""

from __future__ import annotations

import email.utils
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from django.conf import settings
from django.utils import timezone


class ProviderError(Exception):
    """A provider call failed. ``str()`` is a sentence a release manager can act on."""

    retryable = False

    def __init__(self, message: str, *, provider: str = "", status: int | None = None):
        super().__init__(message)
        self.provider = provider
        self.status = status


class RateLimited(ProviderError):
    """403/429 rate limiting: do not call again for ``retry_after`` seconds."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float, provider: str = "", status: int | None = None):
        super().__init__(message, provider=provider, status=status)
        self.retry_after = max(0.0, retry_after)


class Unavailable(ProviderError):
    """5xx, timeouts and connection failures: worth retrying with backoff."""

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
    """JSON GETs against one provider. Use as a context manager, or call ``close()``."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        conditional: bool = False,
    ):
        self.provider = provider
        self.base_url = base_url
        self.conditional = conditional
        seconds = settings.PROVIDER_TIMEOUT_SECONDS if timeout is None else timeout
        self._client = httpx.Client(
            headers={"User-Agent": "gatehouse", **(headers or {})},
            timeout=httpx.Timeout(seconds),
            follow_redirects=True,
        )

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

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
        from batches.models import ConditionalCache

        url = _full_url(self.base_url, path, params)
        cached = ConditionalCache.objects.filter(url=url).first() if self.conditional else None
        headers = {}
        if cached is not None:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified
        try:
            response = self._client.get(url, headers=headers)
        except httpx.TimeoutException as exc:
            raise Unavailable(
                f"{self.provider} did not answer within {self._client.timeout.read} s ({_path(url)}).",
                provider=self.provider,
            ) from exc
        except httpx.TransportError as exc:
            raise Unavailable(f"Could not reach {self.provider}: {exc}.", provider=self.provider) from exc

        not_modified = response.status_code == 304
        _count(self.provider, not_modified=not_modified)
        if not_modified and cached is not None:
            # A 304 may omit Link, so the next page comes from the stored response.
            return Page(self._decode(cached.body, url), next_link(cached.link), True)
        self._raise_for_status(response, url)
        data = self._decode(response.text, url)
        if self.conditional and (response.headers.get("etag") or response.headers.get("last-modified")):
            ConditionalCache.objects.update_or_create(
                url=url,
                defaults={
                    "etag": response.headers.get("etag", "")[:300],
                    "last_modified": response.headers.get("last-modified", "")[:100],
                    "link": response.headers.get("link", ""),
                    "body": response.text,
                    "fetched_at": timezone.now(),
                },
            )
        return Page(data, next_link(response.headers.get("link")), False)

    def _decode(self, text: str, url: str) -> Any:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise MalformedResponse(
                f"{self.provider} answered {_path(url)} with something that is not JSON.", provider=self.provider
            ) from exc

    def _raise_for_status(self, response: httpx.Response, url: str) -> None:
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
            raise Unavailable(f"{self.provider} is unavailable (HTTP {status}).", provider=self.provider, status=status)
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
        raise ProviderError(
            f"{self.provider} refused {_path(url)} (HTTP {status}).", provider=self.provider, status=status
        )


def _path(url: str) -> str:
    return httpx.URL(url).path
