"""Take a plan's batches through their lifecycle the way people and providers do.

Every state a test needs is reached through the product's own actions: plan
settings saved, PRs linked by URL, the fake GitHub/Render/Sentry answering,
a sync (or a signed webhook) reading them, ticks and uploads, lifecycle calls.
Nothing here writes a state the product computes.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from batches.models import Batch, Gate, GateKind, Plan
from batches.plan_settings import gate_check_names_configure, plan_configure
from batches.pr_linking import planned_pr_link
from batches.sync import batch_sync
from signoffs.evidence import evidence_add
from signoffs.models import ChecklistItem
from signoffs.services import signoff_record

REPO = "octo-org/gatehouse-demo"
CI_CHECK = "ci"
AI_CHECK = "claude-review"
AI_BOT = "claude[bot]"
RENDER_SERVICE = "srv-demo"
SENTRY_ORG = "the-interstellar-jurisdiction"
SENTRY_PROJECT = "pump-station"


def head_sha(pr_number: int, push: int = 0) -> str:
    return hashlib.sha1(f"pr-{pr_number}-push-{push}".encode()).hexdigest()


def merge_sha(pr_number: int) -> str:
    return hashlib.sha1(f"merge-{pr_number}".encode()).hexdigest()


def github_number(pr) -> int:
    """The real pull request number a planned PR is linked to in these tests."""
    return 100 + pr.number


def screenshot(name: str = "render-dashboard.png", size: tuple[int, int] = (640, 400)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, (24, 90, 160)).save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@dataclass
class Journey:
    """The fake providers plus the personas, bound to one plan."""

    fake: object  # providers.fake.FakeProviders
    plan: Plan
    release_manager: object
    engineer: object
    ops: object
    # What the fake GitHub reports per planned PR number, kept so a merge does not forget it.
    _runs: dict[int, list[dict]] = field(default_factory=dict)
    # Per planned PR number, when GitHub says it was opened and merged, and its commits
    # [(sha, committed_at)] oldest first; unset: the fake's defaults and the merge time below.
    opened_at: dict[int, str] = field(default_factory=dict)
    merged_at: dict[int, str] = field(default_factory=dict)
    commits: dict[int, list[tuple[str, str]]] = field(default_factory=dict)

    # -- configuration -------------------------------------------------------------

    def configure(self, *, render: bool = False, sentry: bool = False) -> None:
        """Save the plan's settings as a release manager would, and name every CI gate's check."""
        values = {
            "github_repository": REPO,
            "ai_reviewer_check_name": AI_CHECK,
            "ai_reviewer_bot_login": AI_BOT,
            "render_service_ids": [RENDER_SERVICE] if render else [],
            "sentry_organization": SENTRY_ORG if sentry else "",
            "sentry_project": SENTRY_PROJECT if sentry else "",
        }
        plan_configure(plan=self.plan, by=self.release_manager, values=values)
        gates = Gate.objects.filter(batch__plan=self.plan, kind=GateKind.CI)
        gate_check_names_configure(plan=self.plan, check_names={g.pk: CI_CHECK for g in gates})
        self.plan.refresh_from_db()

    def batch(self, number: int) -> Batch:
        return self.plan.batches.get(number=number)

    # -- GitHub ------------------------------------------------------------------------

    def _history(self, pr) -> dict:
        history: dict = {}
        if pr.number in self.opened_at:
            history["created_at"] = self.opened_at[pr.number]
        if pr.number in self.commits:
            history["commits"] = self.commits[pr.number]
        return history

    def open_prs(self, batch: Batch) -> None:
        """Every planned PR of ``batch`` exists on the fake GitHub, open, and is linked by its URL."""
        for pr in batch.prs.all():
            self.fake.github_pr(REPO, github_number(pr), head_sha=head_sha(pr.number), **self._history(pr))
            planned_pr_link(pr=pr, url=f"https://github.com/{REPO}/pull/{github_number(pr)}")

    def report(self, batch: Batch, *, ci: str | None = "success", ai: str | None = "success", **run) -> None:
        """The CI check and the AI reviewer's check conclude on every PR of ``batch`` (None: not reported)."""
        for pr in batch.prs.all():
            runs = []
            if ci:
                runs.append({"name": CI_CHECK, "status": "completed", "conclusion": ci})
            if ai:
                runs.append({"name": AI_CHECK, "status": "completed", "conclusion": ai, **run})
            self._runs[pr.number] = runs
            self.fake.github_checks(REPO, head_sha(pr.number), [dict(r) for r in runs])

    def request_changes(self, batch: Batch, pr_number: int) -> None:
        pr = batch.prs.get(number=pr_number)
        self.fake.github_reviews(
            REPO,
            github_number(pr),
            [{"login": AI_BOT, "state": "CHANGES_REQUESTED", "commit_id": head_sha(pr.number)}],
        )

    def merge(self, batch: Batch) -> None:
        """Merge every PR of ``batch``; each changed the files its task names."""
        for pr in batch.prs.all():
            self.fake.github_pr(
                REPO,
                github_number(pr),
                head_sha=head_sha(pr.number),
                state="closed",
                merged_at=self.merged_at.get(pr.number, "2026-01-02T10:00:00Z"),
                merge_commit_sha=merge_sha(pr.number),
                files=list(pr.files),
                **self._history(pr),
            )
            self.fake.github_checks(REPO, head_sha(pr.number), [dict(r) for r in self._runs.get(pr.number, [])])

    def sync(self, batch: Batch) -> None:
        batch_sync(batch=batch)

    # -- people --------------------------------------------------------------------------

    def sign_checklist(self, batch: Batch) -> None:
        """Ops uploads a screenshot where one is required; the engineer ticks every item."""
        for item in ChecklistItem.objects.filter(gate__batch=batch).order_by("pk"):
            if item.evidence_required:
                evidence_add(item=item, upload=screenshot(), by=self.ops)
            signoff_record(item=item, user=self.engineer, action="tick", note="Verified on staging")

    def pass_everything(self, batch: Batch) -> None:
        """Linked, reported green, merged (docs gates need the merge), synced and signed."""
        self.open_prs(batch)
        self.merge(batch)
        self.report(batch)
        self.sync(batch)
        self.sign_checklist(batch)

    def approve(self, batch: Batch) -> Batch:
        """Start (if planned), pass every gate, mark ready and approve ``batch``."""
        batch.refresh_from_db()
        if batch.state == "planned":
            batch.start(by=self.release_manager)
        self.pass_everything(batch)
        batch.mark_ready(by=self.release_manager)
        batch.approve(by=self.release_manager)
        batch.refresh_from_db()
        return batch
