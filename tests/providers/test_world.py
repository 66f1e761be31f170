"""The demo's simulated world, read through the portal's own provider clients."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from providers.fake import DemoWorld, FakeProviders, WorldError
from providers.github import GitHubClient
from providers.http import ProviderError, Unavailable
from providers.render import RenderClient
from providers.sentry import SentryClient

REPO = "demo-org/paiid"
ORG, PROJECT = "demo-org", "paiid-backend"
SERVICE = "srv-paiid"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def build(world: DemoWorld) -> DemoWorld:
    world.add_repository(REPO)
    world.add_service(SERVICE, repository=REPO)
    world.add_sentry_project(ORG, PROJECT)
    return world


@pytest.fixture
def world(tmp_path):
    return build(DemoWorld(path=tmp_path / "world.json", clock=Clock()))


@pytest.fixture
def served(world):
    fake = FakeProviders(world=world).start()
    yield fake
    fake.stop()


@pytest.fixture
def github(served):
    with GitHubClient(token="t", base_url=served.github_url) as client:
        yield client


def test_any_pull_request_of_the_repository_exists_open_with_nothing_reported(github, world):
    pull = github.get_pull(REPO, 1234)
    assert (pull.number, pull.state, pull.merged_at) == (1234, "open", None)
    assert pull.head_sha == world.head_sha_for(REPO, 1234)
    assert pull.html_url == f"https://github.com/{REPO}/pull/1234"
    assert github.list_check_runs(REPO, pull.head_sha) == []
    assert github.list_statuses(REPO, pull.head_sha) == []
    assert github.list_reviews(REPO, 1234) == []
    assert github.get_commit(REPO, pull.head_sha).committed_at is not None
    with pytest.raises(ProviderError, match="HTTP 404"):
        github.get_pull("someone/else", 1)


def test_checks_statuses_and_reviews_reach_the_clients_typed(github, world):
    head = world.pull(REPO, 5).head_sha
    world.report_check(REPO, 5, name="smoke", conclusion="failure", title="2 smoke tests failed")
    world.report_check(REPO, 5, name="smoke", conclusion="success")  # replaces the earlier run of that name
    world.report_check(REPO, 5, name="claude-review", conclusion=None)
    world.set_status(REPO, head, context="ci/lint", state="pending")
    world.set_status(REPO, head, context="ci/lint", state="success")
    world.submit_review(REPO, 5, login="claude[bot]", state="CHANGES_REQUESTED", body="Two findings.")
    runs = {run.name: run for run in github.list_check_runs(REPO, head)}
    assert (runs["smoke"].status, runs["smoke"].conclusion) == ("completed", "success")
    assert (runs["claude-review"].status, runs["claude-review"].conclusion) == ("in_progress", None)
    assert [(s.context, s.state) for s in github.list_statuses(REPO, head)] == [("ci/lint", "success")]
    [review] = github.list_reviews(REPO, 5)
    assert (review.user_login, review.state, review.commit_id) == ("claude[bot]", "CHANGES_REQUESTED", head)
    with pytest.raises(WorldError):
        world.report_check(REPO, 5, name="smoke", conclusion="great")


def test_compare_follows_main_so_a_later_deploy_contains_earlier_merges(github, world, served):
    first = world.merge(REPO, 3, files=["monitor-production.sh"])
    deploy = world.deploy(SERVICE)
    second = world.merge(REPO, 4, files=["DEPLOYMENT_STATUS.md"])
    assert github.compare(REPO, first.merge_commit_sha, deploy.commit_id).head_contains_base
    assert not github.compare(REPO, second.merge_commit_sha, deploy.commit_id).head_contains_base
    assert github.compare(REPO, second.merge_commit_sha, world.deploy(SERVICE).commit_id).head_contains_base
    pull = github.get_pull(REPO, 4)
    assert (pull.state, pull.merge_commit_sha) == ("closed", second.merge_commit_sha)
    assert [f.filename for f in github.list_pull_files(REPO, 4)] == ["DEPLOYMENT_STATUS.md"]
    with pytest.raises(WorldError, match="merged already"):
        world.merge(REPO, 4)


def test_render_serves_the_newest_deploy_first_and_retires_the_previous_live_one(served, world):
    world.deploy(SERVICE)
    failed = world.deploy(SERVICE, status="build_failed")
    with RenderClient(api_key="k", base_url=served.render_url) as render:
        deploys = render.list_deploys(SERVICE)
        assert render.latest_deploy(SERVICE).id == failed.id
    assert [d.status for d in deploys] == ["build_failed", "live"]
    world.deploy(SERVICE)
    assert [d.status for d in world.service(SERVICE).deploys] == ["live", "build_failed", "deactivated"]


def test_sentry_lists_unresolved_issues_until_they_are_resolved(served, world):
    since = world.clock()
    world.raise_issue(ORG, PROJECT, title="KeyError: 'SENTRY_DSN'")
    with SentryClient(token="s", base_url=served.sentry_url) as sentry:
        [issue] = sentry.unresolved_issues_since(
            organization=ORG, project=PROJECT, environment="production", since=since
        )
        assert (issue.short_id, issue.title, issue.project_slug) == (
            "PAIID-BACKEND-1",
            "KeyError: 'SENTRY_DSN'",
            PROJECT,
        )
        assert world.resolve_issues(ORG, PROJECT) == 1
        assert sentry.unresolved_issues_since(organization=ORG, project=PROJECT, environment="", since=since) == []


def test_an_outage_answers_503_until_it_ends(served, world):
    world.set_outage("sentry", True)
    with SentryClient(token="s", base_url=served.sentry_url) as sentry:
        with pytest.raises(Unavailable, match="HTTP 503"):
            sentry.unresolved_issues_since(organization=ORG, project=PROJECT, environment="", since=world.clock())
        world.set_outage("sentry", False)
        assert (
            sentry.unresolved_issues_since(organization=ORG, project=PROJECT, environment="", since=world.clock()) == []
        )


def test_statuses_and_comments_can_be_posted(served, world):
    head = world.pull(REPO, 8).head_sha
    with httpx.Client(base_url=served.github_url) as client:
        created = client.post(f"/repos/{REPO}/statuses/{head}", json={"state": "success", "context": "gatehouse"})
        refused = client.post(f"/repos/{REPO}/statuses/{head}", json={"state": "great", "context": "gatehouse"})
        comment = client.post(f"/repos/{REPO}/issues/8/comments", json={"body": "Batch 2 is ready."})
        edited = client.patch(f"/repos/{REPO}/issues/comments/{comment.json()['id']}", json={"body": "Approved."})
        listed = client.get(f"/repos/{REPO}/issues/8/comments")
    assert (created.status_code, created.json()["context"], created.json()["state"]) == (201, "gatehouse", "success")
    assert refused.status_code == 422
    assert [s.state for s in world.statuses(REPO, head)] == ["success"]
    assert comment.status_code == 201
    assert edited.json()["body"] == "Approved."
    assert [c["body"] for c in listed.json()] == ["Approved."]
    assert [s.method for s in served.requests_to("/github")] == ["POST", "POST", "POST", "PATCH", "GET"]


def test_the_state_survives_a_restart(tmp_path, world):
    world.merge(REPO, 3, files=["monitor-production.sh"])
    world.submit_review(REPO, 5, login="claude[bot]", state="APPROVED")
    world.deploy(SERVICE)
    world.raise_issue(ORG, PROJECT, title="Boom")
    world.set_outage("render", True)
    world.remember_port(45678)

    again = DemoWorld.load(world.path)
    assert again.state == world.state
    assert again.pull(REPO, 3).merge_commit_sha == world.pull(REPO, 3).merge_commit_sha
    assert again.is_down("render")
    assert again.state.port == 45678
    assert DemoWorld.load(tmp_path / "none-yet.json").state.repositories == {}


def test_a_file_that_is_not_a_saved_world_is_refused_with_a_way_out(tmp_path):
    path = tmp_path / "world.json"
    path.write_text(json.dumps({"version": 99}))
    with pytest.raises(WorldError, match="delete it to start the simulation afresh"):
        DemoWorld.load(path)
    path.write_text("{not json")
    with pytest.raises(WorldError, match="is not a saved demo world"):
        DemoWorld.load(path)
