"""The shared HTTP wrapper against a real loopback server: ETag/304, rate limits, 5xx, timeouts, bad JSON."""

from __future__ import annotations

import time

import pytest

from batches.models import ConditionalCache
from providers.fake import example
from providers.http import (
    HttpClient,
    MalformedResponse,
    ProviderError,
    RateLimited,
    Unavailable,
    next_link,
    request_stats,
    reset_request_stats,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(providers):
    reset_request_stats()
    with HttpClient(provider="GitHub", base_url=providers.github_url, conditional=True) as http:
        yield http


def test_second_request_is_conditional_and_a_304_reuses_the_stored_body(client, providers):
    providers.json("/github/rate_limit", example("github/rate_limit_get.json"))
    first = client.get_json("rate_limit")
    second = client.get_json("rate_limit")
    assert first == second == example("github/rate_limit_get.json")
    seen = providers.requests_to("/github/rate_limit")
    assert [s.status for s in seen] == [200, 304]
    assert "If-None-Match" not in seen[0].headers
    assert seen[1].headers["If-None-Match"] == ConditionalCache.objects.get().etag
    stats = request_stats("GitHub")
    assert (stats.requests, stats.counted, stats.not_modified) == (2, 1, 1)


def test_a_changed_resource_is_fetched_again_and_stored(client, providers):
    providers.json("/github/thing", {"v": 1})
    assert client.get_json("thing") == {"v": 1}
    providers.json("/github/thing", {"v": 2})
    assert client.get_json("thing") == {"v": 2}
    assert ConditionalCache.objects.get().body == '{"v": 2}'
    assert request_stats("GitHub").counted == 2


def test_429_with_retry_after_raises_rate_limited_with_that_delay(client, providers):
    providers.json("/github/x", {"message": "slow down"}, status=429, headers={"Retry-After": "42"})
    with pytest.raises(RateLimited) as excinfo:
        client.get_json("x")
    assert excinfo.value.retry_after == 42
    assert excinfo.value.status == 429


def test_retry_after_as_an_http_date_or_garbage(client, providers):
    import email.utils

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


def test_malformed_json_is_malformed_response_and_not_cached(client, providers):
    providers.raw("/github/x", '{"check_runs": [', status=200)
    with pytest.raises(MalformedResponse, match="not JSON"):
        client.get_json("x")
    assert not ConditionalCache.objects.exists()


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


def test_sentry_link_with_results_false_ends_pagination():
    links = example("sentry/pagination_link_headers.json")
    assert next_link(links["docs_api_pagination_first_page"]) == (
        "https://sentry.io/api/0/issues/123456/events/?&cursor=0:100:0"
    )
    last = links["docs_api_pagination_first_page"].replace('results="true"', 'results="false"')
    assert next_link(last) is None
    github = example("github/response_headers_link_and_ratelimit.json")["link_example"]
    assert next_link(github) == "https://api.github.com/resource?page=2"
