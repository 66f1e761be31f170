"""metrics.services: every metric from a journey on the fake providers, against hand-computed values."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from batches.models import BatchState, GateKind
from metrics.models import BatchMetrics
from metrics.services import (
    MetricsRefused,
    batch_metrics_compute,
    metrics_due,
    metrics_periodic,
    plan_metrics_recompute,
)
from tests.journey import AI_BOT, RENDER_SERVICE, REPO, SENTRY_ORG, SENTRY_PROJECT, head_sha
from tests.metrics.conftest import (
    PR1_OPENED,
    approve_on_timeline,
    configure_render_and_sentry,
)

pytestmark = pytest.mark.django_db


def deploys(journey) -> None:
    """Render's deploys of the plan's service, newest first (hand-computed values in the tests)."""
    journey.fake.render_deploys(
        RENDER_SERVICE,
        [
            # After approval, within 7 days of the batch's deploy: a rollback.
            {"id": "dep-5", "status": "live", "trigger": "rollback", "finishedAt": "2026-03-06T10:00:00Z"},
            # In the batch's window (started 03-02 09:00 → approved 03-05 09:00):
            {"id": "dep-3", "status": "deactivated", "trigger": "new_commit", "finishedAt": "2026-03-04T08:00:00Z"},
            {"id": "dep-4", "status": "build_failed", "trigger": "new_commit", "finishedAt": "2026-03-04T07:00:00Z"},
            # The first to go live after the last merge (03-03 16:00): the batch's deploy.
            {"id": "dep-2", "status": "deactivated", "trigger": "new_commit", "finishedAt": "2026-03-03T17:00:00Z"},
            {"id": "dep-1", "status": "deactivated", "trigger": "new_commit", "finishedAt": "2026-03-02T20:00:00Z"},
        ],
    )


def issues(journey) -> None:
    journey.fake.sentry_issues(
        SENTRY_ORG,
        [
            # Seen before the deploy: not an escape.
            {"status": "unresolved", "firstSeen": "2026-03-03T12:00:00Z", "lastSeen": "2026-03-09T12:00:00Z"},
            # Escapes: resolved after 6 h, unresolved, resolved after 24 h.
            {"status": "resolved", "firstSeen": "2026-03-04T10:00:00Z", "lastSeen": "2026-03-04T16:00:00Z"},
            {"status": "unresolved", "firstSeen": "2026-03-05T10:00:00Z", "lastSeen": "2026-03-05T11:00:00Z"},
            {"status": "resolved", "firstSeen": "2026-03-06T00:00:00Z", "lastSeen": "2026-03-07T00:00:00Z"},
            # After the 7-day window (ends 03-10 17:00): not counted.
            {"status": "unresolved", "firstSeen": "2026-03-12T10:00:00Z", "lastSeen": "2026-03-12T10:00:00Z"},
            # Another project's issue in the same organisation.
            {
                "status": "unresolved",
                "firstSeen": "2026-03-04T10:00:00Z",
                "lastSeen": "2026-03-04T10:00:00Z",
                "project_slug": "another-project",
            },
        ],
    )


def test_approval_stores_cycle_times_pr_cycle_times_and_no_data_for_unconfigured_providers(
    journey, clock, django_capture_on_commit_callbacks
):
    batch = approve_on_timeline(journey, clock, django_capture_on_commit_callbacks)
    row = BatchMetrics.objects.get(batch=batch)
    assert (row.start_to_ready_seconds, row.ready_to_approved_seconds, row.start_to_approved_seconds) == (
        172_800,
        86_400,
        259_200,
    )
    assert [(p["number"], p["cycle_seconds"]) for p in row.prs] == [(1, 86_400), (2, 104_400)]
    assert row.prs[0]["opened_at"] == "2026-03-02T10:00:00+00:00"
    assert row.pr_cycle_median_seconds == 95_400
    # The bot reviewed nothing: zero findings, a real count (the PRs were read).
    assert (row.ai_findings_blocking, row.ai_findings_non_blocking) == (0, 0)
    # No Render services, no Sentry project: no data, never zero, and the page says why.
    assert row.deployed_at is None
    assert row.live_deploys is None
    assert row.deploys_per_week is None
    assert row.escaped_defects is None
    assert row.lead_time_seconds is None
    assert row.rollback is None
    assert any("No Render services" in note for note in row.notes)
    assert row.stale is False
    assert row.gate_flips_total == 0


def test_findings_count_the_bots_change_requests_and_comments_per_pr(
    journey, clock, django_capture_on_commit_callbacks
):
    batch = approve_on_timeline(journey, clock, django_capture_on_commit_callbacks)
    pr101, pr102 = 101, 102
    journey.fake.github_reviews(
        REPO,
        pr101,
        [
            {"id": 500, "login": AI_BOT, "state": "CHANGES_REQUESTED", "commit_id": head_sha(1)},
            {"id": 501, "login": AI_BOT, "state": "COMMENTED", "commit_id": head_sha(1)},
            {"id": 502, "login": "octocat", "state": "CHANGES_REQUESTED", "commit_id": head_sha(1)},
            {"id": 503, "login": AI_BOT, "state": "APPROVED", "commit_id": head_sha(1)},
        ],
    )
    journey.fake.github_review_comments(
        REPO,
        pr101,
        [
            {"login": AI_BOT, "pull_request_review_id": 500},
            {"login": AI_BOT, "pull_request_review_id": 500},
            {"login": AI_BOT, "pull_request_review_id": 501},
            {"login": "octocat", "pull_request_review_id": 502},
        ],
    )
    # A change request without inline comments is one blocking finding.
    journey.fake.github_reviews(REPO, pr102, [{"id": 600, "login": AI_BOT, "state": "CHANGES_REQUESTED"}])
    row = batch_metrics_compute(batch=batch)
    per_pr = {p["number"]: (p["findings_blocking"], p["findings_non_blocking"]) for p in row.prs}
    assert per_pr == {1: (2, 1), 2: (1, 0)}
    assert (row.ai_findings_blocking, row.ai_findings_non_blocking) == (3, 1)


def test_deploy_lead_time_frequency_rollback_escapes_and_restore(journey, clock, django_capture_on_commit_callbacks):
    batch = approve_on_timeline(journey, clock, django_capture_on_commit_callbacks)
    configure_render_and_sentry(journey)
    deploys(journey)
    issues(journey)
    clock.set("2026-03-20T09:00:00Z")  # the 7-day window has closed
    row = batch_metrics_compute(batch=batch)
    # dep-2 is the first deploy live after the last merge (03-03 16:00).
    assert row.deployed_at.isoformat() == "2026-03-03T17:00:00+00:00"
    # dep-1, dep-2, dep-3 went live between start and approval (3 days = 3/7 week): 7 a week.
    assert (row.live_deploys, row.deploys_per_week) == (3, 7.0)
    # First commit 03-01 15:00 → deploy 03-03 17:00 = 2 d 2 h.
    assert row.lead_time_seconds == 180_000
    assert row.rollback is True
    # Three issues first seen after the deploy, within 7 days, in the project.
    assert row.escaped_defects == 3
    # Median of the resolved escapes' 6 h and 24 h.
    assert row.restore_seconds == 54_000
    assert row.stale is False
    # What Sentry was asked: issues first seen between the deploy and the end of the window.
    asked = journey.fake.requests_to(f"/sentry/api/0/organizations/{SENTRY_ORG}/issues/")[-1]
    assert "2026-03-03T17%3A00%3A00" in asked.query
    assert "2026-03-10T17%3A00%3A00" in asked.query


def test_an_issue_seen_before_the_deploy_is_not_an_escape(journey, clock, django_capture_on_commit_callbacks):
    batch = approve_on_timeline(journey, clock, django_capture_on_commit_callbacks)
    configure_render_and_sentry(journey)
    deploys(journey)
    journey.fake.sentry_issues(
        SENTRY_ORG,
        [{"status": "unresolved", "firstSeen": "2026-03-03T16:59:59Z", "lastSeen": "2026-03-08T00:00:00Z"}],
    )
    clock.set("2026-03-20T09:00:00Z")
    row = batch_metrics_compute(batch=batch)
    assert row.escaped_defects == 0  # Sentry was read: a real zero
    assert row.restore_seconds is None  # nothing resolved: no data


def test_the_escape_window_is_configurable(journey, clock, django_capture_on_commit_callbacks, settings):
    batch = approve_on_timeline(journey, clock, django_capture_on_commit_callbacks)
    configure_render_and_sentry(journey)
    deploys(journey)
    issues(journey)
    settings.METRICS_ESCAPE_WINDOW_DAYS = 1  # deploy 03-03 17:00 → 03-04 17:00
    clock.set("2026-03-20T09:00:00Z")
    row = batch_metrics_compute(batch=batch)
    assert (row.escaped_defects, row.escape_window_days, row.restore_seconds) == (1, 1, 21_600)
    assert row.rollback is False  # dep-5's rollback came after the one-day window


def test_no_deploy_yet_is_no_data(journey, clock, django_capture_on_commit_callbacks):
    batch = approve_on_timeline(journey, clock, django_capture_on_commit_callbacks)
    configure_render_and_sentry(journey)
    journey.fake.render_deploys(
        RENDER_SERVICE,
        [{"id": "dep-1", "status": "live", "trigger": "new_commit", "finishedAt": "2026-03-02T20:00:00Z"}],
    )
    issues(journey)
    row = batch_metrics_compute(batch=batch)
    assert (row.live_deploys, row.deploys_per_week) == (1, 2.33)
    assert row.deployed_at is None
    assert (row.escaped_defects, row.lead_time_seconds, row.rollback, row.restore_seconds) == (None, None, None, None)
    assert any("No deploy went live" in note for note in row.notes)
    # Sentry is not asked without a deploy to measure from.
    assert journey.fake.requests_to("/sentry/") == []


def test_a_reopened_pr_has_no_cycle_time_and_holds_the_deploy(journey, clock, django_capture_on_commit_callbacks):
    batch = approve_on_timeline(journey, clock, django_capture_on_commit_callbacks)
    configure_render_and_sentry(journey)
    deploys(journey)
    issues(journey)
    # PR #2 (GitHub #102) was closed and reopened: open again, not merged, still opened at its first opening.
    journey.fake.github_pr(REPO, 102, head_sha=head_sha(2), state="open", created_at="2026-03-02T11:00:00Z")
    row = batch_metrics_compute(batch=batch)
    assert [(p["number"], p["cycle_seconds"]) for p in row.prs] == [(1, 86_400), (2, None)]
    assert row.pr_cycle_median_seconds == 86_400
    assert row.deployed_at is None
    assert row.escaped_defects is None
    assert any("Not every linked PR is merged" in note for note in row.notes)


def test_flips_count_passing_failing_turns_per_gate(journey, clock, django_capture_on_commit_callbacks):
    batch = approve_on_timeline(journey, clock, django_capture_on_commit_callbacks, flaky_ci=True)
    row = BatchMetrics.objects.get(batch=batch)
    by_kind: dict[str, list[int]] = {}
    for gate in row.gate_flips:
        by_kind.setdefault(gate["kind"], []).append(gate["flips"])
    # CI: pending → failing → passing → failing → passing = 3 flips (the first failure is not a flip).
    assert by_kind[GateKind.CI]
    assert set(by_kind[GateKind.CI]) == {3}
    assert all(flips == 0 for kind, values in by_kind.items() if kind != GateKind.CI for flips in values)
    assert row.gate_flips_total == 3 * len(by_kind[GateKind.CI])


def test_an_unapproved_batch_has_no_metrics(journey):
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.pass_everything(batch)
    batch.mark_ready(by=journey.release_manager)
    with pytest.raises(MetricsRefused, match="not approved"):
        batch_metrics_compute(batch=batch)
    assert not BatchMetrics.objects.exists()


def test_a_batch_with_no_prs_has_no_data_not_zero(journey, django_capture_on_commit_callbacks):
    """Batch 2 approved with every automated gate waived and no PR linked."""
    first = journey.approve(journey.batch(1))
    assert first.state == BatchState.APPROVED
    batch = journey.batch(2)
    batch.start(by=journey.release_manager)
    for gate in batch.gates.exclude(kind=GateKind.MANUAL):
        gate.waive(by=journey.release_manager, reason="No PRs this batch")
    journey.sign_checklist(batch)
    batch.mark_ready(by=journey.release_manager)
    with django_capture_on_commit_callbacks(execute=True):
        batch.approve(by=journey.release_manager)
    row = BatchMetrics.objects.get(batch=batch)
    assert row.prs == []
    assert row.pr_cycle_median_seconds is None
    assert (row.ai_findings_blocking, row.ai_findings_non_blocking) == (None, None)
    assert row.escaped_defects is None
    assert row.deployed_at is None
    assert any("No linked PRs" in note for note in row.notes)


def test_a_provider_error_never_breaks_approval(journey, clock, django_capture_on_commit_callbacks):
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.pass_everything(batch)
    batch.mark_ready(by=journey.release_manager)
    journey.fake.json(f"/github/repos/{REPO}/pulls/101", {"message": "Server Error"}, status=502)
    with django_capture_on_commit_callbacks(execute=True):
        batch.approve(by=journey.release_manager)
    batch.refresh_from_db()
    assert batch.state == BatchState.APPROVED
    row = BatchMetrics.objects.get(batch=batch)
    assert row.stale is True
    assert any(note.startswith("GitHub could not be read") for note in row.notes)
    assert row.prs == []
    assert row.ai_findings_blocking is None
    assert row.start_to_approved_seconds is not None  # the lifecycle part is still there
    # Once GitHub answers again, a recompute fills the numbers in.
    journey.merge(batch)
    row = batch_metrics_compute(batch=batch)
    assert row.stale is False
    assert len(row.prs) == 2


def test_a_failing_task_is_logged_and_never_reaches_the_approval(
    journey, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("metrics.tasks.batch_metrics_compute", broken)
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.pass_everything(batch)
    batch.mark_ready(by=journey.release_manager)
    with django_capture_on_commit_callbacks(execute=True):
        batch.approve(by=journey.release_manager)
    batch.refresh_from_db()
    assert batch.state == BatchState.APPROVED
    assert not BatchMetrics.objects.exists()


def test_recompute_covers_every_approved_batch_and_the_command_says_so(
    journey, clock, django_capture_on_commit_callbacks, capsys
):
    batch = approve_on_timeline(journey, clock, django_capture_on_commit_callbacks)
    journey.batch(2).start(by=journey.release_manager)
    BatchMetrics.objects.all().delete()  # e.g. metrics from before this feature existed
    assert plan_metrics_recompute(plan=journey.plan) == 1
    assert BatchMetrics.objects.get().batch == batch
    call_command("recompute_metrics", "--plan", journey.plan.slug)
    assert f"{journey.plan.slug}: 1 approved batch recomputed." in capsys.readouterr().out
    assert BatchMetrics.objects.count() == 1
    assert PR1_OPENED  # the timeline the values come from


def test_sentry_error_leaves_escapes_as_no_data(journey, clock, django_capture_on_commit_callbacks):
    batch = approve_on_timeline(journey, clock, django_capture_on_commit_callbacks)
    configure_render_and_sentry(journey)
    deploys(journey)
    journey.fake.raw(f"/sentry/api/0/organizations/{SENTRY_ORG}/issues/", "{not json", etag=False)
    clock.set("2026-03-20T09:00:00Z")
    row = batch_metrics_compute(batch=batch)
    assert row.escaped_defects is None
    assert row.stale is True
    assert row.lead_time_seconds == 180_000  # Render and GitHub still count
    assert any(note.startswith("Sentry could not be read") for note in row.notes)
    assert SENTRY_PROJECT


def test_an_open_escape_window_is_recomputed_until_it_closes(journey, clock, django_capture_on_commit_callbacks):
    batch = approve_on_timeline(journey, clock, django_capture_on_commit_callbacks)
    configure_render_and_sentry(journey)
    deploys(journey)
    issues(journey)
    clock.set("2026-03-05T09:00:00Z")  # computed while the window (→ 03-10 17:00) is open
    row = batch_metrics_compute(batch=batch)
    assert row.escaped_defects == 1  # only the 03-04 10:00 issue has been seen by then
    assert metrics_due() == [batch]
    clock.set("2026-03-11T00:00:00Z")
    call_command("recompute_metrics", "--due")
    row.refresh_from_db()
    assert row.escaped_defects == 3
    assert metrics_due() == []
    assert metrics_periodic() == 0


def test_a_stale_row_is_due_again(journey, clock, django_capture_on_commit_callbacks):
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.pass_everything(batch)
    batch.mark_ready(by=journey.release_manager)
    journey.fake.json(f"/github/repos/{REPO}/pulls/101", {"message": "Server Error"}, status=502)
    with django_capture_on_commit_callbacks(execute=True):
        batch.approve(by=journey.release_manager)
    assert metrics_due() == [batch]
    journey.merge(batch)
    assert metrics_periodic() == 1
    assert metrics_due() == []
