"""A clock the tests move, and batch 1 of the sample plan taken through a known timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from batches.models import Gate, GateKind
from batches.plan_settings import plan_configure
from tests.journey import RENDER_SERVICE, REPO, SENTRY_ORG, SENTRY_PROJECT, Journey, head_sha


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class Clock:
    now: datetime

    def set(self, text: str) -> None:
        self.now = at(text)


@pytest.fixture
def clock(monkeypatch):
    """``django.utils.timezone.now`` answers what the test says: lifecycle moves happen at known times."""
    current = Clock(at("2026-03-02T09:00:00Z"))
    monkeypatch.setattr("django.utils.timezone.now", lambda: current.now)
    return current


# Batch 1's timeline (hand-computed values in the tests refer to these).
STARTED = "2026-03-02T09:00:00Z"
READY = "2026-03-04T09:00:00Z"  # started → ready: 2 d = 172,800 s
APPROVED = "2026-03-05T09:00:00Z"  # ready → approved: 1 d = 86,400 s; started → approved 3 d = 259,200 s
PR1_OPENED, PR1_MERGED = "2026-03-02T10:00:00Z", "2026-03-03T10:00:00Z"  # 24 h = 86,400 s
PR2_OPENED, PR2_MERGED = "2026-03-02T11:00:00Z", "2026-03-03T16:00:00Z"  # 29 h = 104,400 s
FIRST_COMMIT = "2026-03-01T15:00:00Z"


def timeline(journey: Journey) -> None:
    journey.opened_at.update({1: PR1_OPENED, 2: PR2_OPENED})
    journey.merged_at.update({1: PR1_MERGED, 2: PR2_MERGED})
    journey.commits.update(
        {
            1: [("c" * 40, FIRST_COMMIT), (head_sha(1), "2026-03-02T12:00:00Z")],
            2: [(head_sha(2), "2026-03-02T13:00:00Z")],
        }
    )


def approve_on_timeline(journey: Journey, clock: Clock, django_capture_on_commit_callbacks, *, flaky_ci: bool = False):
    """Batch 1: started, worked on (CI flaking if asked), ready and approved at the timeline's times."""
    timeline(journey)
    batch = journey.batch(1)
    clock.set(STARTED)
    batch.start(by=journey.release_manager)
    if flaky_ci:
        journey.open_prs(batch)
        for conclusion in ("failure", "success", "failure"):
            journey.report(batch, ci=conclusion)
            journey.sync(batch)
    journey.pass_everything(batch)
    clock.set(READY)
    batch.mark_ready(by=journey.release_manager)
    clock.set(APPROVED)
    with django_capture_on_commit_callbacks(execute=True):
        batch.approve(by=journey.release_manager)
    batch.refresh_from_db()
    return batch


def configure_render_and_sentry(journey: Journey) -> None:
    """The release manager sets Render and Sentry in the plan settings (approved batches keep their gates)."""
    plan_configure(
        plan=journey.plan,
        by=journey.release_manager,
        values={
            "github_repository": REPO,
            "ai_reviewer_check_name": "claude-review",
            "ai_reviewer_bot_login": "claude[bot]",
            "render_service_ids": [RENDER_SERVICE],
            "sentry_organization": SENTRY_ORG,
            "sentry_project": SENTRY_PROJECT,
        },
    )
    journey.plan.refresh_from_db()


def ci_gate_keys(batch) -> set[str]:
    return {g.label for g in Gate.objects.filter(batch=batch, kind=GateKind.CI)}
