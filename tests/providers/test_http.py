"""The shared HTTP wrapper against a real loopback server: ETag/304, rate limits, 5xx, timeouts, bad JSON.

No database here: the wrapper keeps its ETags in whatever store it is handed
(an in-memory one below; the portal's database store is tested in tests/batches).
"""

from __future__ import annotations

import email.utils
import time

import pytest

from providers.fake import example
from providers.http import (
    Cached,
    ConditionalStore,
    HttpClient,
    MalformedResponse,
    ProviderError,
    RateLimited,
    RateLimitLedger,
    RateLimitStatus,
    Unavailable,
    rate_limit_status,
    request_stats,
    reset_request_stats,
)


class MemoryStore:
    """A :class:`ConditionalStore` in a dict, recording what it was asked."""

    def __init__(self) -> None:
        self.entries: dict[str, Cached] = {}
        self.asked: list[str] = []

    def get(self, url: str) -> Cached | None:
        self.asked.append(url)
        return self.entries.get(url)

    def put(self, url: str, *, etag: str, last_modified: str, link: str, body: str) -> None:
        self.entries[url] = Cached(etag=etag, last_modified=last_modified, link=link, body=body)


def _typed(store: ConditionalStore) -> ConditionalStore:
    return store  # mypy checks here that MemoryStore satisfies the protocol


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture
def client(providers, store):
    reset_request_stats()
    with HttpClient(provider="GitHub", base_url=providers.github_url, store=_typed(store)) as http:
        yield http


def test_second_request_is_conditional_and_a_304_reuses_the_stored_body(client, providers, store):
    providers.json("/github/rate_limit", example("github/rate_limit_get.json"))
    first = client.get_json("rate_limit")
    second = client.get_json("rate_limit")
    assert first == second == example("github/rate_limit_get.json")
    seen = providers.requests_to("/github/rate_limit")
    assert [s.status for s in seen] == [200, 304]
    assert "If-None-Match" not in seen[0].headers
    assert seen[1].headers["If-None-Match"] == store.entries[f"{providers.github_url}/rate_limit"].etag
    stats = request_stats("GitHub")
    assert (stats.requests, stats.counted, stats.not_modified) == (2, 1, 1)


def test_a_changed_resource_is_fetched_again_and_stored(client, providers, store):
    providers.json("/github/thing", {"v": 1})
    assert client.get_json("thing") == {"v": 1}
    providers.json("/github/thing", {"v": 2})
    assert client.get_json("thing") == {"v": 2}
    assert [entry.body for entry in store.entries.values()] == ['{"v": 2}']
    assert request_stats("GitHub").counted == 2


def test_429_with_retry_after_raises_rate_limited_with_that_delay(client, providers):
    providers.json("/github/x", {"message": "slow down"}, status=429, headers={"Retry-After": "42"})
    with pytest.raises(RateLimited) as excinfo:
        client.get_json("x")
    assert excinfo.value.retry_after == 42
    assert excinfo.value.status == 429


def test_retry_after_as_an_http_date_or_garbage(client, providers):
    when = email.utils.formatdate(time.time() + 90, usegmt=True)
    providers.json("/github/x", {}, status=429, headers={"Retry-After": when})
    with pytest.raises(RateLimited) as excinfo:
        client.get_json("x")
    assert 85 <= excinfo.value.retry_after <= 90
    providers.json("/github/x", {}, status=429, headers={"Retry-After": "soon"})
    with pytest.raises(RateLimited) as excinfo:
        client.get_json("x")
    assert excinfo.value.retry_after == 60


def test_403_with_exhausted_primary_limit_waits_until_the_reset_epoch(client, providers):
    reset = int(time.time()) + 120
    providers.json(
        "/github/x",
        {"message": "API rate limit exceeded"},
        status=403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
    )
    with pytest.raises(RateLimited) as excinfo:
        client.get_json("x")
    assert 115 <= excinfo.value.retry_after <= 120


def test_403_secondary_limit_without_headers_waits_a_minute(client, providers):
    providers.json("/github/x", {"message": "You have exceeded a secondary rate limit."}, status=403)
    with pytest.raises(RateLimited) as excinfo:
        client.get_json("x")
    assert excinfo.value.retry_after == 60


def test_plain_403_is_not_a_rate_limit(client, providers):
    providers.json("/github/x", {"message": "Resource not accessible by integration"}, status=403)
    with pytest.raises(ProviderError) as excinfo:
        client.get_json("x")
    assert not isinstance(excinfo.value, RateLimited)
    assert "HTTP 403" in str(excinfo.value)


def test_render_ratelimit_reset_is_seconds_until(providers):
    # Render's recorded headers: Ratelimit-Reset is a small "seconds until" number.
    headers = example("render/response_headers.recorded.json")["GET /v1/services"]
    headers = {**headers, "Ratelimit-Remaining": "0"}
    headers.pop("Content-Type")
    providers.json("/render/v1/services", {"message": "rate limit exceeded"}, status=429, headers=headers)
    with HttpClient(provider="Render", base_url=providers.render_url) as http, pytest.raises(RateLimited) as excinfo:
        http.get_json("services")
    assert excinfo.value.retry_after == 9


def test_502_is_unavailable(client, providers):
    providers.raw("/github/x", "<html>Bad gateway</html>", status=502, headers={"Content-Type": "text/html"})
    with pytest.raises(Unavailable, match=r"unavailable \(HTTP 502\)"):
        client.get_json("x")


def test_a_slow_server_times_out_as_unavailable(providers):
    providers.json("/github/slow", {"ok": True}, delay=1.0)
    started = time.monotonic()
    with HttpClient(provider="GitHub", base_url=providers.github_url, timeout=0.2) as http:
        with pytest.raises(Unavailable, match=r"did not answer within 0\.2 s"):
            http.get_json("slow")
    assert time.monotonic() - started < 0.9


def test_unreachable_server_is_unavailable():
    with HttpClient(provider="Sentry", base_url="http://127.0.0.1:9/") as http:
        with pytest.raises(Unavailable, match="Could not reach Sentry"):
            http.get_json("x")


def test_malformed_json_is_malformed_response_and_not_cached(client, providers, store):
    providers.raw("/github/x", '{"check_runs": [', status=200)
    with pytest.raises(MalformedResponse, match="not JSON"):
        client.get_json("x")
    assert store.entries == {}


def test_401_says_to_check_the_token(client, providers):
    providers.json("/github/x", {"message": "Bad credentials"}, status=401)
    with pytest.raises(ProviderError, match="rejected the credentials"):
        client.get_json("x")


def test_pagination_follows_link_next(client, providers):
    providers.json("/github/items", [1, 2], headers={"Link": f'<{providers.github_url}/items2?page=2>; rel="next"'})
    providers.json("/github/items2", [3])
    assert client.get_all("items") == [[1, 2], [3]]
    # On the idle pass the 304 carries no Link: the stored one still leads to page 2.
    assert client.get_all("items") == [[1, 2], [3]]
    assert [s.status for s in providers.requests_to("/github/items")][-2:] == [304, 304]


def test_without_a_store_nothing_is_conditional(providers):
    providers.json("/github/thing", {"v": 1})
    with HttpClient(provider="GitHub", base_url=providers.github_url) as http:
        assert http.get_json("thing") == http.get_json("thing") == {"v": 1}
    seen = providers.requests_to("/github/thing")
    assert [s.status for s in seen] == [200, 200]
    assert not any("If-None-Match" in s.headers for s in seen)


def test_the_store_is_keyed_by_the_full_url_with_a_sorted_query(client, providers, store):
    providers.json("/github/search", [])
    client.get_json("search", {"q": "x", "per_page": 100, "page": None})
    client.get_json("search", {"per_page": 100, "q": "x"})
    url = f"{providers.github_url}/search?per_page=100&q=x"
    assert store.asked == [url, url]
    assert [s.status for s in providers.requests_to("/github/search")] == [200, 304]


def test_last_modified_alone_makes_a_request_conditional(client, providers, store):
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
    providers.json("/github/thing", {"v": 1}, headers={"Last-Modified": stamp}, etag=False)
    client.get_json("thing")
    client.get_json("thing")
    first, second = providers.requests_to("/github/thing")
    assert "If-Modified-Since" not in first.headers
    assert second.headers["If-Modified-Since"] == stamp
    assert store.entries[f"{providers.github_url}/thing"].etag == ""


# -- POST and PATCH: the same timeouts, errors and rate limits as GET --------------------------------------


def test_post_sends_json_and_returns_the_created_object(client, providers):
    providers.json("/github/things", {"id": 7, "body": "hi"}, status=201, method="POST")
    assert client.post_json("things", {"body": "hi"}) == {"id": 7, "body": "hi"}
    (seen,) = providers.requests_to("/github/things", method="POST")
    assert seen.json() == {"body": "hi"}
    assert seen.headers["Content-Type"] == "application/json"
    assert "If-None-Match" not in seen.headers
    assert request_stats("GitHub").counted == 1


def test_patch_sends_json_and_an_empty_answer_is_none(client, providers):
    providers.raw("/github/things/7", "", status=204, method="PATCH")
    assert client.patch_json("things/7", {"body": "edited"}) is None
    assert providers.requests_to("/github/things/7", method="PATCH")[0].json() == {"body": "edited"}


def test_writes_are_never_cached(client, providers, store):
    providers.json("/github/things", {"id": 7}, status=201, method="POST", headers={"ETag": '"abc"'})
    client.post_json("things", {"body": "hi"})
    assert store.entries == {}
    assert store.asked == []


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("status", [403, 429])
def test_a_rate_limited_write_raises_rate_limited_with_the_delay(client, providers, method, status):
    providers.json(
        "/github/things",
        {"message": "You have exceeded a secondary rate limit."},
        status=status,
        headers={"Retry-After": "30"},
        method=method,
    )
    write = client.post_json if method == "POST" else client.patch_json
    with pytest.raises(RateLimited) as excinfo:
        write("things", {"body": "hi"})
    assert (excinfo.value.retry_after, excinfo.value.status) == (30, status)
    # Refused without acting on it: even a POST may go again after the wait.
    assert excinfo.value.retryable
    assert len(providers.requests_to("/github/things")) == 1  # the wrapper itself never retries


def test_a_5xx_to_a_post_is_unavailable_but_not_retryable(client, providers):
    providers.raw("/github/things", "<html>Bad gateway</html>", status=502, method="POST")
    with pytest.raises(Unavailable, match=r"unavailable \(HTTP 502\)\. It may have been applied") as excinfo:
        client.post_json("things", {"body": "hi"})
    assert excinfo.value.status == 502
    assert not excinfo.value.retryable
    assert len(providers.requests_to("/github/things")) == 1


def test_a_5xx_to_a_patch_is_unavailable_and_retryable(client, providers):
    providers.raw("/github/things/7", "oops", status=503, method="PATCH")
    with pytest.raises(Unavailable, match=r"unavailable \(HTTP 503\)\.$") as excinfo:
        client.patch_json("things/7", {"body": "hi"})
    assert excinfo.value.retryable


def test_a_post_that_times_out_may_have_been_applied_so_it_is_not_retryable(providers):
    providers.json("/github/things", {"id": 1}, status=201, method="POST", delay=1.0)
    with HttpClient(provider="GitHub", base_url=providers.github_url, timeout=0.2) as http:
        with pytest.raises(Unavailable, match=r"did not answer within 0\.2 s \(POST /github/things\)") as excinfo:
            http.post_json("things", {"body": "hi"})
    assert "It may have been applied" in str(excinfo.value)
    assert not excinfo.value.retryable
    # The fake records a request once it has answered it, after its delay.
    deadline = time.monotonic() + 3
    while not providers.requests_to("/github/things") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert len(providers.requests_to("/github/things")) == 1  # sent once, never again


def test_a_patch_that_times_out_is_retryable(providers):
    providers.json("/github/things/7", {"id": 7}, method="PATCH", delay=1.0)
    with HttpClient(provider="GitHub", base_url=providers.github_url, timeout=0.2) as http:
        with pytest.raises(Unavailable, match="did not answer") as excinfo:
            http.patch_json("things/7", {"body": "hi"})
    assert excinfo.value.retryable


def test_a_post_that_never_connected_was_not_sent_and_may_be_retried():
    with HttpClient(provider="GitHub", base_url="http://127.0.0.1:9/") as http:
        with pytest.raises(Unavailable, match=r"Could not reach GitHub: .*\.$") as excinfo:
            http.post_json("things", {"body": "hi"})
    assert excinfo.value.retryable


def test_a_post_answered_with_broken_json_is_malformed(client, providers):
    providers.raw("/github/things", '{"id": ', status=201, method="POST")
    with pytest.raises(MalformedResponse, match=r"answered POST /github/things with something that is not JSON"):
        client.post_json("things", {"body": "hi"})


def test_a_refused_write_says_why(client, providers):
    providers.json(
        "/github/things",
        {
            "message": "Validation Failed",
            "errors": [{"resource": "Status", "code": "custom", "field": "state", "message": "state is not included"}],
        },
        status=422,
        method="POST",
    )
    with pytest.raises(ProviderError) as excinfo:
        client.post_json("things", {"state": "great"})
    assert str(excinfo.value) == (
        "GitHub refused POST /github/things (HTTP 422): Validation Failed; state is not included."
    )
    assert not excinfo.value.retryable


def test_a_401_to_a_write_says_to_check_the_token(client, providers):
    providers.json("/github/things", {"message": "Bad credentials"}, status=401, method="POST")
    with pytest.raises(ProviderError, match="rejected the credentials"):
        client.post_json("things", {})


# -- rate-limit headers reach the ledger ---------------------------------------------


class MemoryLedger:
    """A :class:`RateLimitLedger` that keeps every status it hears."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, RateLimitStatus]] = []

    def record(self, provider: str, status: RateLimitStatus) -> None:
        self.heard.append((provider, status))


def _ledger(ledger: RateLimitLedger) -> RateLimitLedger:
    return ledger  # mypy checks here that MemoryLedger satisfies the protocol


def test_every_github_answer_reports_its_rate_limit_headers_a_304_included(providers, store):
    providers.json("/github/x", {"a": 1})
    providers.github_rate_limit(remaining=4321, reset_in=600)
    ledger = MemoryLedger()
    with HttpClient(provider="GitHub", base_url=providers.github_url, store=store, ledger=_ledger(ledger)) as http:
        http.get_json("x")
        http.get_json("x")  # a 304: GitHub does not count it, and still sends the headers
    assert [s for s in providers.requests_to("/github/x")][1].status == 304
    (_, first), (_, second) = ledger.heard
    assert (first.remaining, first.limit, first.resource, first.retry_at) == (4320, 5000, "core", None)
    assert second.remaining == 4320
    assert 590 <= (second.reset_at or 0) - time.time() <= 600


def test_a_refusal_reports_when_asking_again_is_allowed(providers):
    providers.json(
        "/github/x", {"message": "You have exceeded a secondary rate limit."}, status=403, headers={"Retry-After": "42"}
    )
    ledger = MemoryLedger()
    with HttpClient(provider="GitHub", base_url=providers.github_url, ledger=ledger) as http:
        with pytest.raises(RateLimited):
            http.get_json("x")
    ((provider, status),) = ledger.heard
    assert provider == "GitHub"
    assert 40 <= (status.retry_at or 0) - time.time() <= 42


def test_the_fake_github_refuses_once_the_hourly_limit_is_spent(providers):
    providers.json("/github/x", {"a": 1}, etag=False)
    providers.github_rate_limit(remaining=1, reset_in=90)
    ledger = MemoryLedger()
    with HttpClient(provider="GitHub", base_url=providers.github_url, ledger=ledger) as http:
        http.get_json("x")
        with pytest.raises(RateLimited) as excinfo:
            http.get_json("x")
    assert 85 <= excinfo.value.retry_after <= 90
    assert [s.remaining for _, s in ledger.heard] == [0, 0]


def test_rate_limit_status_reads_nothing_from_an_answer_without_the_headers():
    import httpx

    assert rate_limit_status(httpx.Response(200, json={})) is None
    limited = rate_limit_status(httpx.Response(429, headers={"retry-after": "7"}, text="slow down"), now=1000.0)
    assert limited is not None
    assert (limited.remaining, limited.retry_at) == (None, 1007.0)
    garbled = rate_limit_status(httpx.Response(200, headers={"x-ratelimit-remaining": "lots"}))
    assert garbled is None
