"""metrics.formulas: each formula on small typed inputs, edge cases included, and the catalogue the page shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from metrics import formulas
from metrics.formulas import METRICS
from providers.github import Commit, Review, ReviewComment
from providers.render import Deploy
from providers.sentry import Issue

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
HOUR = timedelta(hours=1)


def deploy(hours: float, status: str = "live", trigger: str = "new_commit") -> Deploy:
    at = T0 + hours * HOUR
    return Deploy(id=f"dep-{hours}", status=status, commit_sha="", created_at=at, finished_at=at, trigger=trigger)


def issue(first: float, last: float | None = None, status: str = "unresolved") -> Issue:
    return Issue(
        id=str(first),
        short_id="",
        title="",
        status=status,
        first_seen=T0 + first * HOUR,
        last_seen=T0 + (last if last is not None else first) * HOUR,
        permalink="",
        project_slug="p",
        count=1,
    )


def test_batch_cycle_time_is_no_data_until_both_moves_happened():
    assert formulas.batch_cycle_time(T0, T0 + 48 * HOUR, T0 + 72 * HOUR) == (172_800, 86_400, 259_200)
    assert formulas.batch_cycle_time(T0, None, None) == (None, None, None)  # an unapproved batch
    assert formulas.batch_cycle_time(None, None, None) == (None, None, None)


def test_pr_cycle_time_of_an_open_or_reopened_pr_is_no_data():
    assert formulas.pr_cycle_time(T0, T0 + 24 * HOUR) == 86_400
    assert formulas.pr_cycle_time(T0, None) is None


def test_findings_split_blocking_and_non_blocking_by_the_bots_reviews():
    def review(rid, login, state):
        return Review(id=rid, user_login=login, state=state, commit_id="", submitted_at=None, html_url="", body="")

    def comment(cid, login, review_id):
        return ReviewComment(
            id=cid, review_id=review_id, user_login=login, body="", path="", created_at=None, html_url=""
        )

    reviews = [review(1, "claude[bot]", "CHANGES_REQUESTED"), review(2, "Claude[bot]", "CHANGES_REQUESTED")]
    reviews += [review(3, "claude[bot]", "COMMENTED"), review(4, "octocat", "CHANGES_REQUESTED")]
    comments = [comment(10, "claude[bot]", 1), comment(11, "claude[bot]", 1), comment(12, "claude[bot]", 3)]
    comments += [comment(13, "claude[bot]", None), comment(14, "octocat", 4)]
    # Review 1: 2 comments → 2 blocking; review 2 (login case differs): none → 1; comments 12, 13: non-blocking.
    assert formulas.ai_findings(reviews, comments, "claude[bot]") == (3, 2)
    assert formulas.ai_findings([], [], "claude[bot]") == (0, 0)


def test_the_batch_deploy_is_the_first_to_go_live_after_the_last_merge():
    merged = T0 + 30 * HOUR
    deploys = [deploy(20), deploy(31, "build_failed"), deploy(32, "deactivated"), deploy(40)]
    assert formulas.batch_deploy(deploys, merged).id == "dep-32"
    assert formulas.batch_deploy(deploys, None) is None  # nothing merged
    assert formulas.batch_deploy([deploy(20)], merged) is None  # no deploy yet


def test_deployment_frequency_per_week_with_a_one_day_floor():
    deploys = [deploy(1), deploy(2, "deactivated"), deploy(3, "build_failed"), deploy(100)]
    assert formulas.deployment_frequency(deploys, T0, T0 + 72 * HOUR) == (2, 4.67)
    assert formulas.deployment_frequency(deploys, T0, T0 + HOUR) == (1, 7.0)
    assert formulas.deployment_frequency(deploys, T0, None) == (None, None)


def test_lead_time_from_the_first_commit():
    commits = [Commit(sha="b", committed_at=T0 + HOUR), Commit(sha="a", committed_at=T0), Commit("c", None)]
    assert formulas.lead_time(commits, T0 + 50 * HOUR) == 180_000
    assert formulas.lead_time(commits, None) is None
    assert formulas.lead_time([], T0) is None


def test_escapes_are_first_seen_after_the_deploy_within_the_window():
    issues = [issue(-1), issue(0), issue(1), issue(24 * 7), issue(24 * 7 + 1)]
    escapes = formulas.escaped_defects(issues, T0, timedelta(days=7))
    assert [i.first_seen for i in escapes] == [T0 + HOUR, T0 + 168 * HOUR]
    assert formulas.escaped_defects(issues, None, timedelta(days=7)) is None


def test_time_to_restore_is_the_median_over_resolved_escapes():
    issues = [issue(1, 7, "resolved"), issue(2, 26, "resolved"), issue(3, 100), issue(4, 6, "resolved")]
    assert formulas.time_to_restore(issues) == 6 * 3600  # median of 6 h, 24 h, 2 h
    assert formulas.time_to_restore([issue(3, 100)]) is None


def test_rollback_within_the_window_after_the_deploy():
    deploys = [deploy(10, trigger="rollback")]
    assert formulas.rolled_back(deploys, T0, timedelta(days=1)) is True
    assert formulas.rolled_back(deploys, T0 + 11 * HOUR, timedelta(days=1)) is False
    assert formulas.rolled_back(deploys, None, timedelta(days=1)) is None


def test_change_failure_rate_leaves_out_batches_without_a_deploy():
    assert formulas.change_failure_rate([(0, False), (2, False), (0, True), (None, None)]) == 0.667
    assert formulas.change_failure_rate([(None, None)]) is None


def test_only_passing_failing_turns_are_flips():
    turns = [("", "pending"), ("pending", "failing"), ("failing", "passing"), ("passing", "stale")]
    turns += [("stale", "passing"), ("passing", "failing"), ("failing", "passing")]
    assert formulas.gate_flips(turns) == 3


def test_every_metric_has_its_formula_from_its_docstring():
    assert METRICS["escaped_defects"].formula.startswith("Escaped defects = Sentry issues of the plan's project")
    assert all(metric.formula and "\n" not in metric.formula for metric in METRICS.values())
