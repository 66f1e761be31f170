"""Each gate rule's mapping from provider payloads (official ones, named fields changed) to a state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from batches.gates import Providers, gate_evaluate
from batches.models import GateEvent, GateKind, GateState
from batches.sync import batch_sync
from tests.batches.conftest import REPO, SHA1, SHA2, gate

pytestmark = pytest.mark.django_db


def sync(batch):
    return batch_sync(batch=batch)


def state_of(batch, kind):
    g = gate(batch, kind)
    return g.state, g.detail


# -- ci ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "conclusion", "expected"),
    [
        ("completed", "success", GateState.PASSING),
        ("completed", "failure", GateState.FAILING),
        ("completed", "timed_out", GateState.FAILING),
        ("completed", "cancelled", GateState.FAILING),
        ("completed", "action_required", GateState.FAILING),
        ("queued", None, GateState.PENDING),
        ("in_progress", None, GateState.PENDING),
    ],
)
def test_ci_check_run_conclusions(batch, open_prs, status, conclusion, expected):
    open_prs.github_checks(REPO, SHA1, [{"name": "pytest", "status": status, "conclusion": conclusion}])
    open_prs.github_checks(REPO, SHA2, [{"name": "pytest", "status": "completed", "conclusion": "success"}])
    sync(batch)
    assert state_of(batch, GateKind.CI)[0] == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("success", GateState.PASSING),
        ("failure", GateState.FAILING),
        ("error", GateState.FAILING),
        ("pending", GateState.PENDING),
    ],
)
def test_ci_commit_statuses_count_too(batch, open_prs, state, expected):
    batch.gates.filter(kind=GateKind.CI).update(check_name="ci/*")
    for sha in (SHA1, SHA2):
        open_prs.github_statuses(REPO, sha, [{"context": "ci/jenkins", "state": state}])
    sync(batch)
    assert state_of(batch, GateKind.CI)[0] == expected


def test_ci_absent_check_is_pending_and_a_failure_links_to_its_run(batch, open_prs):
    open_prs.github_checks(REPO, SHA1, [{"name": "lint", "status": "completed", "conclusion": "failure"}])
    sync(batch)
    state, detail = state_of(batch, GateKind.CI)
    assert state == GateState.PENDING
    assert "PR #1: no check “pytest” yet" in detail
    open_prs.github_checks(
        REPO, SHA2, [{"name": "pytest", "status": "completed", "conclusion": "failure", "html_url": "https://x/run/9"}]
    )
    sync(batch)
    ci = gate(batch, GateKind.CI)
    assert ci.state == GateState.FAILING
    assert ci.detail_url == "https://x/run/9"
    assert "PR #2: pytest failure" in ci.detail


def test_ci_needs_config_says_what_is_missing(settings, batch, open_prs):
    batch.gates.filter(kind=GateKind.CI).update(check_name="")
    sync(batch)
    assert state_of(batch, GateKind.CI) == (GateState.NEEDS_CONFIG, "Set the CI check name for this gate in the admin.")
    settings.GITHUB_TOKEN = None
    open_prs.clear_seen()
    sync(batch)
    assert state_of(batch, GateKind.CI) == (GateState.NEEDS_CONFIG, "Set GITHUB_TOKEN in the environment.")
    assert not open_prs.requests_to("/github/")  # no anonymous calls burning the 60/h limit


def test_ci_unlinked_pr_needs_config(batch, open_prs):
    batch.prs.filter(number=2).update(github_number=None)
    sync(batch)
    assert state_of(batch, GateKind.CI) == (
        GateState.NEEDS_CONFIG,
        "Link planned PR #2 to its GitHub pull request.",
    )


# -- errors: stale, never passing ---------------------------------------------------


def test_a_provider_error_marks_the_gate_stale_keeping_its_last_state(batch, open_prs):
    for sha in (SHA1, SHA2):
        open_prs.github_checks(REPO, sha, [{"name": "pytest", "status": "completed", "conclusion": "success"}])
    sync(batch)
    assert state_of(batch, GateKind.CI)[0] == GateState.PASSING
    open_prs.raw(f"/github/repos/{REPO}/commits/{SHA1}/check-runs", "bad gateway", status=502)
    report = sync(batch)
    ci = gate(batch, GateKind.CI)
    assert ci.state == GateState.STALE
    assert ci.last_known_state == GateState.PASSING
    assert ci.detail == "GitHub is unavailable (HTTP 502)."
    assert not ci.is_satisfied
    assert report.retry_error() is not None
    assert list(ci.events.values_list("previous_state", "state")) == [
        (GateState.NEEDS_CONFIG, GateState.PASSING),
        (GateState.PASSING, GateState.STALE),
    ]


def test_a_pr_that_cannot_be_read_makes_its_gates_stale(batch, open_prs):
    open_prs.json(f"/github/repos/{REPO}/pulls/11", {"message": "slow"}, status=429, headers={"Retry-After": "30"})
    report = sync(batch)
    assert state_of(batch, GateKind.CI) == (GateState.STALE, "GitHub rate limit reached; retrying in 30 s.")
    assert report.retry_error().retry_after == 30


# -- PR sync -------------------------------------------------------------------------


def test_pr_fields_are_synced_from_github(batch, providers):
    providers.github_pr(REPO, 11, head_sha=SHA1, committed_at="2026-03-01T09:30:00Z")
    providers.github_pr(
        REPO,
        12,
        head_sha=SHA2,
        state="closed",
        merged_at="2026-03-02T10:00:00Z",
        merge_commit_sha="m" * 40,
        files=["DEPLOYMENT_STATUS.md", "app.py"],
    )
    report = sync(batch)
    pr1, pr2 = batch.prs.order_by("number")
    assert (pr1.head_sha, pr1.github_state, pr1.merged_at, pr1.merge_commit_sha) == (SHA1, "open", None, "")
    assert pr1.head_committed_at.isoformat() == "2026-03-01T09:30:00+00:00"
    assert pr1.github_url == f"https://github.com/{REPO}/pull/11"
    assert pr2.github_state == "closed"
    assert pr2.merged_at.isoformat() == "2026-03-02T10:00:00+00:00"
    assert pr2.merge_commit_sha == "m" * 40
    assert pr2.changed_files == ["DEPLOYMENT_STATUS.md", "app.py"]
    assert pr1.last_synced_at is not None
    assert any("PR #2: github_state" in line for line in report.changes)


# -- ai_review ---------------------------------------------------------------------


def _ai(batch, providers, runs1=(), runs2=(), reviews1=(), committed_minutes_ago=5):
    committed = (timezone.now() - timedelta(minutes=committed_minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    providers.github_pr(REPO, 11, head_sha=SHA1, committed_at=committed)
    providers.github_pr(REPO, 12, head_sha=SHA2, committed_at=committed)
    providers.github_checks(REPO, SHA1, [dict(r) for r in runs1])
    providers.github_checks(
        REPO,
        SHA2,
        [dict(r) for r in runs2] or [{"name": "claude-review", "status": "completed", "conclusion": "success"}],
    )
    providers.github_reviews(REPO, 11, [dict(r) for r in reviews1])
    sync(batch)
    return state_of(batch, GateKind.AI_REVIEW)


def test_ai_check_success_passes(batch, providers):
    run = {"name": "claude-review", "status": "completed", "conclusion": "success"}
    assert _ai(batch, providers, runs1=[run])[0] == GateState.PASSING


def test_ai_check_failure_with_findings_fails(batch, providers):
    run = {"name": "claude-review", "status": "completed", "conclusion": "failure", "output": {"title": "3 issues"}}
    assert _ai(batch, providers, runs1=[run])[0] == GateState.FAILING


@pytest.mark.parametrize(
    "title", ["Rate limited by the Anthropic API", "Claude is temporarily unavailable", "API overloaded"]
)
def test_ai_check_failing_because_it_was_rate_limited_is_reviewer_unavailable(batch, providers, title):
    run = {"name": "claude-review", "status": "completed", "conclusion": "failure", "output": {"title": title}}
    state, detail = _ai(batch, providers, runs1=[run])
    assert state == GateState.REVIEWER_UNAVAILABLE
    assert "could not review" in detail


def test_no_ai_review_within_the_timeout_is_reviewer_unavailable(batch, providers):
    state, detail = _ai(batch, providers, committed_minutes_ago=61)
    assert state == GateState.REVIEWER_UNAVAILABLE
    assert "PR #1: no AI review within 60 minutes of the head commit" in detail


def test_no_ai_review_yet_within_the_timeout_is_pending(batch, providers):
    assert _ai(batch, providers, committed_minutes_ago=59) == (
        GateState.PENDING,
        "PR #1: waiting for the AI review; PR #2: claude-review success",
    )


def test_bot_changes_requested_fails_until_a_newer_review_supersedes_it(batch, providers):
    changes = {
        "login": "claude[bot]",
        "state": "CHANGES_REQUESTED",
        "commit_id": SHA1,
        "submitted_at": "2026-03-01T10:00:00Z",
    }
    assert _ai(batch, providers, reviews1=[changes])[0] == GateState.FAILING
    someone_else = {"login": "octocat", "state": "APPROVED", "commit_id": SHA1, "submitted_at": "2026-03-01T11:00:00Z"}
    assert _ai(batch, providers, reviews1=[changes, someone_else])[0] == GateState.FAILING
    approval = {"login": "claude[bot]", "state": "APPROVED", "commit_id": SHA1, "submitted_at": "2026-03-01T11:00:00Z"}
    assert _ai(batch, providers, reviews1=[changes, approval])[0] == GateState.PASSING


def test_ai_review_needs_a_check_name_or_bot(batch, providers):
    batch.plan.ai_reviewer_check_name = ""
    batch.plan.ai_reviewer_bot_login = ""
    batch.plan.save()
    assert _ai(batch, providers) == (
        GateState.NEEDS_CONFIG,
        "Set the AI reviewer's check name or bot login for this plan in the admin.",
    )


def test_ai_review_only_reads_the_prs_the_plan_names(batch, providers):
    g = gate(batch, GateKind.AI_REVIEW)
    g.prs.set(batch.prs.filter(number=2))
    failing = {"name": "claude-review", "status": "completed", "conclusion": "failure"}
    assert _ai(batch, providers, runs1=[failing])[0] == GateState.PASSING


# -- deploy ------------------------------------------------------------------------


DEPLOYED = "59bb07278c918ac8798e2532b4251f7c34e365f5"  # the official deploy example's commit


def merge_both(providers, merge_commit_sha: str = DEPLOYED) -> None:
    """Both PRs merged; by default into the commit the official deploy example deploys."""
    for number, sha in ((11, SHA1), (12, SHA2)):
        providers.github_pr(
            REPO,
            number,
            head_sha=sha,
            state="closed",
            merged_at="2026-03-01T10:00:00Z",
            merge_commit_sha=merge_commit_sha,
        )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("live", GateState.PASSING),
        ("build_failed", GateState.FAILING),
        ("update_failed", GateState.FAILING),
        ("pre_deploy_failed", GateState.FAILING),
        ("canceled", GateState.FAILING),
        ("build_in_progress", GateState.PENDING),
        ("queued", GateState.PENDING),
        ("update_in_progress", GateState.PENDING),
    ],
)
def test_deploy_status_mapping(batch, open_prs, status, expected):
    merge_both(open_prs)
    open_prs.render_deploys("srv-demo", [{"status": status}])
    sync(batch)
    assert state_of(batch, GateKind.DEPLOY)[0] == expected


def test_a_deploy_before_the_batch_merged_does_not_count_but_an_outage_shows(batch, open_prs):
    open_prs.render_deploys("srv-demo", [{"status": "live"}])
    sync(batch)
    state, detail = state_of(batch, GateKind.DEPLOY)
    assert state == GateState.PENDING
    assert detail.startswith("Waiting for planned PR #1, #2 to merge and deploy. Latest: srv-demo: deploy")
    open_prs.raw("/render/v1/services/srv-demo/deploys", "down", status=503)
    sync(batch)
    assert state_of(batch, GateKind.DEPLOY)[0] == GateState.STALE


def test_deploy_must_contain_the_merged_prs(batch, providers):
    merge = "m" * 40
    deployed = DEPLOYED
    merge_both(providers, merge_commit_sha=merge)
    providers.render_deploys("srv-demo", [{"status": "live"}])
    providers.github_compare(REPO, merge, deployed, "behind")
    sync(batch)
    state, detail = state_of(batch, GateKind.DEPLOY)
    assert state == GateState.PENDING
    assert "does not contain merged PR #1, #2 yet" in detail
    providers.github_compare(REPO, merge, deployed, "ahead")
    sync(batch)
    assert state_of(batch, GateKind.DEPLOY)[0] == GateState.PASSING
    providers.render_deploys("srv-demo", [{"status": "live", "commit_id": merge}])
    providers.clear_seen()
    sync(batch)
    assert state_of(batch, GateKind.DEPLOY)[0] == GateState.PASSING
    assert not providers.requests_to(f"/github/repos/{REPO}/compare/")  # same commit: no compare needed


def test_deploy_needs_service_ids_and_key(settings, batch, open_prs):
    settings.RENDER_API_KEY = None
    sync(batch)
    assert state_of(batch, GateKind.DEPLOY) == (GateState.NEEDS_CONFIG, "Set RENDER_API_KEY in the environment.")
    batch.plan.render_service_ids = []
    batch.plan.save()
    sync(batch)
    assert state_of(batch, GateKind.DEPLOY) == (
        GateState.NEEDS_CONFIG,
        "Set the Render service id(s) for this plan in the admin.",
    )


# -- observability -----------------------------------------------------------------


def test_observability_counts_new_unresolved_issues_after_the_deploy(batch, open_prs):
    org = "the-interstellar-jurisdiction"
    open_prs.render_deploys("srv-demo", [{"status": "live", "finishedAt": "2026-03-01T12:00:00Z"}])
    open_prs.sentry_issues(org, [{"status": "unresolved", "firstSeen": "2026-03-01T11:00:00Z"}])
    sync(batch)
    state, detail = state_of(batch, GateKind.OBSERVABILITY)
    assert state == GateState.PENDING  # the live deploy is not the batch's yet
    assert detail.startswith("Waiting for the batch's deploy (Waiting for planned PR #1, #2 to merge")
    assert "Meanwhile pump-station (production) has no new issues since 2026-03-01 12:00 UTC." in detail
    open_prs.raw(f"/sentry/api/0/organizations/{org}/issues/", "down", status=503)
    sync(batch)
    assert state_of(batch, GateKind.OBSERVABILITY)[0] == GateState.STALE  # an outage shows before the deploy too
    open_prs.sentry_issues(org, [{"status": "unresolved", "firstSeen": "2026-03-01T11:00:00Z"}])
    merge_both(open_prs)
    sync(batch)
    assert state_of(batch, GateKind.OBSERVABILITY)[0] == GateState.PASSING
    open_prs.sentry_issues(
        org,
        [
            {"status": "unresolved", "firstSeen": "2026-03-01T11:00:00Z"},
            {
                "status": "unresolved",
                "firstSeen": "2026-03-01T13:00:00Z",
                "shortId": "PUMP-STATION-7",
                "permalink": "https://sentry.io/x/issues/7/",
            },
            {"status": "resolved", "firstSeen": "2026-03-01T13:00:00Z"},
        ],
    )
    sync(batch)
    g = gate(batch, GateKind.OBSERVABILITY)
    assert g.state == GateState.FAILING
    assert g.detail.startswith("1 new unresolved issue in pump-station (production) since 2026-03-01 12:00 UTC")
    assert "PUMP-STATION-7" in g.detail
    assert g.detail_url == "https://sentry.io/x/issues/7/"


def test_observability_waits_for_a_live_deploy_and_needs_config(settings, batch, open_prs):
    open_prs.render_deploys("srv-demo", [{"status": "build_in_progress"}])
    sync(batch)
    assert state_of(batch, GateKind.OBSERVABILITY) == (
        GateState.PENDING,
        "No live deploy yet to watch for new errors.",
    )
    settings.SENTRY_AUTH_TOKEN = None
    sync(batch)
    assert state_of(batch, GateKind.OBSERVABILITY) == (
        GateState.NEEDS_CONFIG,
        "Set SENTRY_AUTH_TOKEN in the environment.",
    )


# -- docs --------------------------------------------------------------------------


def test_docs_need_every_named_file_changed_by_a_merged_pr(batch, providers):
    providers.github_pr(REPO, 11, head_sha=SHA1)
    providers.github_pr(
        REPO,
        12,
        head_sha=SHA2,
        state="closed",
        merged_at="2026-03-02T10:00:00Z",
        merge_commit_sha="m" * 40,
        files=["app.py"],
    )
    sync(batch)
    assert state_of(batch, GateKind.DOCS) == (
        GateState.PENDING,
        "Not changed by a merged PR yet: DEPLOYMENT_STATUS.md.",
    )
    providers.github_pr(
        REPO,
        11,
        head_sha=SHA1,
        state="closed",
        merged_at="2026-03-03T10:00:00Z",
        merge_commit_sha="n" * 40,
        files=["README.md"],
    )
    sync(batch)
    assert state_of(batch, GateKind.DOCS) == (GateState.FAILING, "Not changed by a merged PR: DEPLOYMENT_STATUS.md.")
    providers.github_pr(
        REPO,
        11,
        head_sha=SHA1,
        state="closed",
        merged_at="2026-03-03T11:00:00Z",
        merge_commit_sha="n" * 40,
        files=["DEPLOYMENT_STATUS.md"],
    )
    sync(batch)
    assert state_of(batch, GateKind.DOCS)[0] == GateState.PASSING


def test_docs_without_files_needs_config(batch, open_prs):
    batch.gates.filter(kind=GateKind.DOCS).update(doc_files=[])
    sync(batch)
    assert state_of(batch, GateKind.DOCS) == (
        GateState.NEEDS_CONFIG,
        "List the documentation files for this gate in the admin.",
    )


def test_gate_evaluate_is_idempotent(batch, open_prs):
    sync(batch)
    events = GateEvent.objects.count()
    with Providers() as providers:
        assert gate_evaluate(gate=gate(batch, GateKind.CI), providers=providers) is False
    assert GateEvent.objects.count() == events


def test_an_idle_sync_costs_no_rate_limit_and_few_queries(batch, open_prs, django_assert_max_num_queries):
    open_prs.render_deploys("srv-demo", [{"status": "live"}])
    open_prs.sentry_issues("the-interstellar-jurisdiction", [])
    sync(batch)
    open_prs.clear_seen()
    with django_assert_max_num_queries(30):
        report = sync(batch)
    assert report.changes == []
    assert open_prs.counted("/github") == 0
    assert open_prs.requests_to("/github/")  # it did ask, conditionally
