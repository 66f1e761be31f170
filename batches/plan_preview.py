"""What importing a plan would do, shown before anything is written.

The browser's import shows this preview and writes only once the release
manager confirms; ``manage.py import_plan --dry-run`` prints it.

The preview is the real import, read back and rolled back: ``plan_import`` runs
inside a transaction, the rows it wrote are read, and the transaction is rolled
back. So the preview shows exactly what a confirmation would write (including
the gates the plan's settings add to every batch, and the ticks a re-import
resets), and every refusal the import would give, including the ones only the
database can tell (a re-import that would discard sign-offs). It is the same
technique as ``plan_import(dry_run=True)``, which cannot be used as is because
the rows it wrote are gone when it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.db.models import Prefetch

from batches.models import Batch, Gate, GateKind, GateOrigin, GateScope, Plan
from batches.plan_import import plan_import
from portal.roles import Actor


@dataclass(frozen=True)
class PreviewPR:
    number: int
    task: str


@dataclass(frozen=True)
class PreviewGate:
    kind: str
    kind_label: str
    label: str
    from_settings: bool  # added by the plan's settings to every batch, not written in the plan


@dataclass(frozen=True)
class PreviewBatch:
    number: int
    title: str
    target_pr_count: int
    target_date: date | None
    prs: list[PreviewPR]
    gates: list[PreviewGate]
    ai_review_scope: str


@dataclass(frozen=True)
class PlanPreview:
    title: str
    slug: str
    source_name: str
    created: bool  # a new plan; False: a re-import of the plan ``slug``
    existing_title: str  # the re-imported plan's current title
    max_prs_per_batch: int
    batches: list[PreviewBatch]
    prs: int
    gates: int
    removed: int  # rows a re-import deletes because the new file no longer has them
    resets: list[str]  # ticks the re-import resets, in sentences
    amended: list[str]  # other sign-off records the re-import appends

    def lines(self) -> list[str]:
        """The preview as plain text, one line each, for the command line."""
        if self.created:
            lines = [f"New plan “{self.title}” as {self.slug}"]
        else:
            renamed = f", renamed “{self.title}”" if self.title != self.existing_title else ""
            lines = [f"Re-import of “{self.existing_title}” ({self.slug}){renamed}: updated in place, sign-offs kept"]
        lines.append(
            f"{len(self.batches)} batches, {self.prs} planned PRs, {self.gates} gates; "
            f"at most {self.max_prs_per_batch} PRs per batch"
        )
        if self.removed:
            lines.append(f"Removes {self.removed} rows the new file no longer contains")
        lines.extend(f"Resets: {sentence}" for sentence in self.resets)
        lines.extend(f"Amends: {sentence}" for sentence in self.amended)
        for batch in self.batches:
            due = f", due {batch.target_date:%Y-%m-%d}" if batch.target_date else ""
            lines.append(f"Batch {batch.number} – {batch.title} (target {batch.target_pr_count} PRs{due})")
            lines.extend(f"  PR #{pr.number}: {pr.task}" for pr in batch.prs)
            for gate in batch.gates:
                lines.append(f"  {gate.kind_label}: {gate.label}{' (plan settings)' if gate.from_settings else ''}")
            lines.append(f"  AI review covers: {batch.ai_review_scope}")
        return lines


def prs_text(numbers: list[int]) -> str:
    """“PR #7”, “PRs #3 and #5”, “PRs #6, #7 and #8”."""
    refs = [f"#{n}" for n in numbers]
    if len(refs) == 1:
        return f"PR {refs[0]}"
    return f"PRs {', '.join(refs[:-1])} and {refs[-1]}"


def _preview_batch(batch: Batch) -> PreviewBatch:
    gates = list(batch.gates.all())
    scopes = [
        prs_text(sorted(pr.number for pr in gate.prs.all())) if gate.scope == GateScope.PRS else "the whole batch"
        for gate in gates
        if gate.kind == GateKind.AI_REVIEW
    ]
    return PreviewBatch(
        number=batch.number,
        title=batch.title,
        target_pr_count=batch.target_pr_count,
        target_date=batch.target_date,
        prs=[PreviewPR(number=pr.number, task=pr.task) for pr in batch.prs.all()],
        gates=[
            PreviewGate(
                kind=gate.kind,
                kind_label=gate.get_kind_display(),
                label=gate.label,
                from_settings=gate.origin == GateOrigin.SETTINGS,
            )
            for gate in gates
        ],
        ai_review_scope="; ".join(scopes) or "no AI-review gate",
    )


def plan_import_preview(
    *, source: bytes | str, slug: str, source_name: str = "", by: Actor | None = None
) -> PlanPreview:
    """What ``plan_import`` with these arguments would write; writes nothing.

    Raises PlanImportError, with the message the import would give, when the
    import would be refused. A constant number of queries, whatever the plan's size.
    """
    existing_title = Plan.objects.filter(slug=slug).values_list("title", flat=True).first() or ""
    with transaction.atomic():
        summary = plan_import(source=source, slug=slug, source_name=source_name, by=by)
        batches = summary.plan.batches.order_by("number").prefetch_related(
            "prs", Prefetch("gates", queryset=Gate.objects.order_by("position", "pk").prefetch_related("prs"))
        )
        preview = PlanPreview(
            title=summary.plan.title,
            slug=slug,
            source_name=source_name,
            created=summary.created,
            existing_title=existing_title,
            max_prs_per_batch=summary.plan.max_prs_per_batch,
            batches=[_preview_batch(batch) for batch in batches],
            prs=summary.prs,
            gates=summary.gates,
            removed=summary.removed,
            resets=list(summary.resets),
            amended=list(summary.amended),
        )
        # Nothing of it is kept: the preview is read, and the import undone.
        transaction.set_rollback(True)
    return preview
