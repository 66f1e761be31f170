"""The database store behind the GitHub client's conditional requests (``batches.conditional_cache``)."""

from __future__ import annotations

import pytest

from batches.conditional_cache import DatabaseConditionalStore
from batches.gates import Providers
from batches.models import ConditionalCache
from providers.fake import example
from providers.http import Cached, ConditionalStore, HttpClient, request_stats, reset_request_stats

pytestmark = pytest.mark.django_db


def store() -> ConditionalStore:
    return DatabaseConditionalStore()  # mypy checks that it satisfies the protocol


def test_a_second_get_is_conditional_and_its_304_reuses_the_stored_body(providers):
    providers.json("/github/rate_limit", example("github/rate_limit_get.json"))
    reset_request_stats()
    with HttpClient(provider="GitHub", base_url=providers.github_url, store=store()) as http:
        first = http.get_json("rate_limit")
        second = http.get_json("rate_limit")
    assert first == second == example("github/rate_limit_get.json")
    row = ConditionalCache.objects.get()
    assert row.url == f"{providers.github_url}/rate_limit"
    seen = providers.requests_to("/github/rate_limit")
    assert [s.status for s in seen] == [200, 304]
    assert seen[1].headers["If-None-Match"] == row.etag
    stats = request_stats("GitHub")
    assert (stats.requests, stats.counted, stats.not_modified) == (2, 1, 1)


def test_put_replaces_the_row_and_get_reads_it_back():
    db = DatabaseConditionalStore()
    assert db.get("https://api.github.com/x") is None
    db.put("https://api.github.com/x", etag='"a"', last_modified="", link="", body="[1]")
    db.put("https://api.github.com/x", etag='"b"', last_modified="Mon", link='<u>; rel="next"', body="[2]")
    assert db.get("https://api.github.com/x") == Cached(
        etag='"b"', last_modified="Mon", link='<u>; rel="next"', body="[2]"
    )
    assert ConditionalCache.objects.count() == 1


def test_overlong_headers_are_cut_to_the_columns_and_overlong_urls_are_not_stored():
    db = DatabaseConditionalStore()
    db.put("https://api.github.com/y", etag="e" * 400, last_modified="m" * 150, link="", body="{}")
    row = ConditionalCache.objects.get()
    assert (len(row.etag), len(row.last_modified)) == (300, 100)
    # PostgreSQL would refuse a URL longer than the column; such a request is simply never conditional.
    long_url = "https://api.github.com/z?q=" + "x" * 1000
    db.put(long_url, etag='"a"', last_modified="", link="", body="{}")
    assert db.get(long_url) is None
    assert ConditionalCache.objects.count() == 1


def test_the_sync_hands_the_database_store_to_the_github_client_only(providers):
    with Providers() as bundle:
        assert isinstance(bundle.gh().http.store, DatabaseConditionalStore)
        assert bundle.rd().http.store is None
        assert bundle.se().http.store is None
