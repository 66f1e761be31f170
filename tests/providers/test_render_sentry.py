"""Render and Sentry client contracts against the fake server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from providers.fake import example
from providers.http import MalformedResponse
from providers.render import RenderClient
from providers.sentry import SentryClient


def test_render_deploys_newest_first_whatever_the_order_served(providers):
    deploys = example("render/deploys_list.RECONSTRUCTED.json")
    providers.json("/render/v1/services/srv-1/deploys", list(reversed(deploys)))
    with RenderClient() as render:
        listed = render.list_deploys("srv-1")
    assert [d.status for d in listed] == ["live", "deactivated", "build_failed"]
    assert listed[0].commit_sha == "59bb07278c918ac8798e2532b4251f7c34e365f5"
    assert listed[1].commit_sha == ""  # an image deploy has no commit
    seen = providers.requests_to("/render/")[0]
    assert seen.headers["Authorization"] == "Bearer rnd-test"
    assert seen.query == "limit=20"


def test_render_retrieve_shape_parses_too(providers):
    providers.json("/render/v1/services/srv-1/deploys", [example("render/deploys_retrieve.RECONSTRUCTED.json")])
    with RenderClient() as render:
        assert render.latest_deploy("srv-1").id.startswith("dep-")


def test_render_garbage_is_malformed(providers):
    providers.json("/render/v1/services/srv-1/deploys", {"deploys": []})
    with RenderClient() as render, pytest.raises(MalformedResponse, match="not a list"):
        render.list_deploys("srv-1")


def test_sentry_filters_to_unresolved_issues_of_the_project_after_the_deploy(providers):
    org = "the-interstellar-jurisdiction"
    official = example("sentry/organizations_issues_list.json")[0]
    unresolved = {**official, "id": "2", "status": "unresolved", "firstSeen": "2026-02-01T00:00:00Z"}
    older = {**official, "id": "3", "status": "unresolved", "firstSeen": "2025-12-01T00:00:00Z"}
    other_project = {**unresolved, "id": "4", "project": {**official["project"], "slug": "other"}}
    providers.json(f"/sentry/api/0/organizations/{org}/issues/", [official, unresolved, older, other_project])
    with SentryClient() as sentry:
        issues = sentry.unresolved_issues_since(
            organization=org, project="pump-station", environment="production", since=datetime(2026, 1, 1, tzinfo=UTC)
        )
    assert [i.id for i in issues] == ["2"]
    assert issues[0].count == 150
    seen = providers.requests_to("/sentry/")[0]
    assert "environment=production" in seen.query
    assert "is%3Aunresolved" in seen.query
    assert seen.headers["Authorization"] == "Bearer sntrys-test"


def test_render_deploy_trigger_tells_a_rollback(providers):
    providers.render_deploys("srv-1", [{"id": "dep-2", "trigger": "rollback"}, {"id": "dep-1"}])
    with RenderClient() as render:
        listed = render.list_deploys("srv-1", limit=100)
    assert {d.id: d.trigger for d in listed} == {"dep-2": "rollback", "dep-1": "new_commit"}
    assert providers.requests_to("/render/")[0].query == "limit=100"


def test_sentry_issues_first_seen_in_a_window_resolved_or_not(providers):
    providers.sentry_issues(
        "org",
        [
            {"status": "resolved", "firstSeen": "2026-03-04T10:00:00Z", "lastSeen": "2026-03-04T16:00:00Z"},
            {"status": "unresolved", "firstSeen": "2026-03-05T10:00:00Z"},
            {"status": "unresolved", "firstSeen": "2026-03-01T10:00:00Z"},  # before the window
            {"status": "unresolved", "firstSeen": "2026-03-20T10:00:00Z"},  # after it
            {"status": "unresolved", "firstSeen": "2026-03-05T10:00:00Z", "project_slug": "other"},
        ],
    )
    start, end = datetime(2026, 3, 3, 17, tzinfo=UTC), datetime(2026, 3, 10, 17, tzinfo=UTC)
    with SentryClient() as sentry:
        issues = sentry.issues_first_seen_between(
            organization="org", project="pump-station", environment="production", start=start, end=end
        )
    assert [(i.id, i.status) for i in issues] == [("100", "resolved"), ("101", "unresolved")]
    assert issues[0].last_seen == datetime(2026, 3, 4, 16, tzinfo=UTC)
    query = providers.requests_to("/sentry/")[0].query
    assert "firstSeen%3A%3E2026-03-03T17%3A00%3A00" in query
    assert "firstSeen%3A%3C%3D2026-03-10T17%3A00%3A00" in query
    assert "is%3Aunresolved" not in query
