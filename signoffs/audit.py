"""The sign-off record of one batch, as an auditor reads it: Markdown and CSV.

:func:`audit_batch` loads everything in a fixed number of queries; the
builders are pure functions over that prefetched batch, so rendering a batch
with hundreds of events costs no more queries than one with none.

PDF is not offered: the well-kept PDF libraries (WeasyPrint, ReportLab) bring
native dependencies or a layout engine for what is a two-table document; the
Markdown prints well from any viewer.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth.models import AbstractUser
from django.db.models import Prefetch, Q
from django.utils import timezone

from batches.models import Batch, BatchEvent, BatchEventAction, Gate, GateEvent, GateEventAction
from signoffs.itemstate import item_state
from signoffs.models import ChecklistItem, Evidence, SignOff

WAIVER_ACTIONS = (GateEventAction.WAIVED, GateEventAction.WAIVER_REVOKED, GateEventAction.WAIVER_LIFTED)

FORMATS = {"md": "text/markdown; charset=utf-8", "csv": "text/csv; charset=utf-8"}
CSV_COLUMNS = [
    "record",
    "gate",
    "item",
    "state_or_action",
    "by",
    "at",
    "detail_or_note",
    "evidence_id",
    "original_sha256",
    "stored_sha256",
    "replaces_evidence_id",
    "replaced_by_evidence_id",
]


@dataclass(frozen=True)
class AuditRecord:
    """One batch with everything its record lists, loaded up front."""

    batch: Batch
    # Its own lifecycle, plus overrides that started a later batch before this one passed.
    lifecycle: list[BatchEvent]
    # Gate id -> its waiver events (given, revoked, lifted), oldest first.
    waivers: dict[int, list[GateEvent]]

    @property
    def gates(self) -> list[Gate]:
        return list(self.batch.gates.all())


def audit_batch(*, slug: str, number: int) -> AuditRecord:
    """The batch with every gate, item, event and evidence file prefetched.

    Raises ``Batch.DoesNotExist``. Query count is constant (one per level).
    """
    items = ChecklistItem.objects.order_by("position", "pk").prefetch_related(
        Prefetch("events", queryset=SignOff.objects.select_related("user").order_by("sequence")),
        Prefetch("evidence", queryset=Evidence.objects.select_related("uploaded_by").order_by("uploaded_at", "pk")),
    )
    gates = (
        Gate.objects.select_related("waived_by")
        .order_by("position", "pk")
        .prefetch_related(Prefetch("items", queryset=items))
    )
    batch = (
        Batch.objects.select_related("plan")
        .prefetch_related(Prefetch("gates", queryset=gates))
        .get(plan__slug=slug, number=number)
    )
    lifecycle = list(
        BatchEvent.objects.filter(
            Q(batch=batch) | Q(related_batch=batch, action=BatchEventAction.STARTED_WITH_OVERRIDE)
        )
        .select_related("by", "batch")
        .order_by("created_at", "pk")
    )
    waivers: dict[int, list[GateEvent]] = {}
    events = GateEvent.objects.filter(gate__batch=batch, action__in=WAIVER_ACTIONS).select_related("by")
    for event in events.order_by("created_at", "pk"):
        waivers.setdefault(event.gate_id, []).append(event)
    return AuditRecord(batch=batch, lifecycle=lifecycle, waivers=waivers)


def _lifecycle_text(batch: Batch, event: BatchEvent) -> str:
    if event.batch_id != batch.pk:
        return f"Batch {event.batch.number} was started with an override before this batch passed"
    return event.get_action_display()


def _who(user: AbstractUser | None) -> str:
    if user is None:
        return ""
    full = user.get_full_name()
    return f"{full} ({user.get_username()})" if full else user.get_username()


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _item_state(item: ChecklistItem) -> str:
    return "ticked" if item_state(item).ticked else "not ticked"


def _who_signed(event: SignOff) -> str:
    return _who(event.user) if event.user else "plan re-import"


# -- Markdown ----------------------------------------------------------------------


# Data reaches the Markdown as literal text. Each character that would mean
# something is escaped with CommonMark's backslash (defined for every ASCII
# punctuation character) and nothing else is touched, so the file still reads
# as plain text:
#   \        the escape character itself
#   < >      raw HTML and autolinks: <script>, <http://…>
#   [ ]      links, images and link reference definitions: [x](…), ![](…)
#   `        code spans
#   * ~      emphasis and GFM strikethrough
#   _        emphasis, except inside a word (snake_case can neither open nor close it)
#   |        the end of a GFM table cell
#   &        only where it starts an entity reference (&amp; &#60; &#x3C;): a bare & is literal
#   # …end   a heading's closing sequence, which a renderer would drop from the title
_MD_ESCAPE = re.compile(
    r"""
    [\\<>\[\]`*~|]
    | (?<![^\W_])_ | _(?![^\W_])
    | &(?=[A-Za-z][A-Za-z0-9]*;|\#[0-9]+;|\#[xX][0-9A-Fa-f]+;)
    | \#(?=\#*$)
    """,
    re.VERBOSE,
)


def _md(text: object) -> str:
    """Data for one table cell or the title: literal text on one line, never markup, HTML or a table break."""
    value = " ".join(str(text if text is not None else "").split())
    return _MD_ESCAPE.sub(lambda match: "\\" + match[0], value) or "—"


def audit_markdown(record: AuditRecord, *, generated_at: datetime | None = None) -> str:
    """The batch's sign-off record as a Markdown document."""
    batch = record.batch
    generated_at = generated_at or timezone.now()
    plan = batch.plan
    lines = [
        f"# Sign-off record: {_md(plan.title)} — Batch {batch.number}: {_md(batch.title)}",
        "",
        f"- Plan: `{plan.slug}`",
        f"- Batch state: {batch.get_state_display()}",
        f"- Approved: {_when(batch.approved_at) or 'not yet'}",
        f"- Record generated: {_when(generated_at)}",
        "",
        "## Gates",
        "",
        "| Gate | Kind | State | Detail | Last checked | Waiver |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    gates = list(batch.gates.all())
    for gate in gates:
        waiver = (
            f"waived by {_who(gate.waived_by)} at {_when(gate.waived_at)}: {gate.waiver_reason}"
            if gate.waived_at
            else ""
        )
        lines.append(
            f"| {_md(gate.label)} | {_md(gate.get_kind_display())} | {_md(gate.get_status_display())} "
            f"| {_md(gate.detail)} | {_md(_when(gate.last_checked_at))} | {_md(waiver)} |"
        )
    lines += ["", "## Waivers", ""]
    lines += ["| Gate | Event | By | At | Reason or detail |", "| --- | --- | --- | --- | --- |"]
    waiver_events = [(gate, waiver) for gate in gates for waiver in record.waivers.get(gate.pk, [])]
    for gate, waiver_event in sorted(waiver_events, key=lambda pair: (pair[1].created_at, pair[1].pk)):
        lines.append(
            f"| {_md(gate.label)} | {_md(waiver_event.get_action_display())} "
            f"| {_md(_who(waiver_event.by) or 'Gatehouse')} | {_md(_when(waiver_event.created_at))} "
            f"| {_md(waiver_event.reason or waiver_event.detail)} |"
        )
    if not waiver_events:
        lines.append("| — | no waivers | — | — | — |")
    lines += ["", "## Lifecycle", ""]
    lines += ["| Event | By | At | Reason | Detail |", "| --- | --- | --- | --- | --- |"]
    for move in record.lifecycle:
        lines.append(
            f"| {_md(_lifecycle_text(batch, move))} | {_md(_who(move.by))} | {_md(_when(move.created_at))} "
            f"| {_md(move.reason)} | {_md(move.detail)} |"
        )
    if not record.lifecycle:
        lines.append("| not started | — | — | — | — |")
    lines += ["", "## Sign-off events", ""]
    lines += ["| Gate | Item | # | Action | By | At | Note |", "| --- | --- | --- | --- | --- | --- | --- |"]
    any_event = False
    for gate in gates:
        for item in gate.items.all():
            for event in item.events.all():
                any_event = True
                lines.append(
                    f"| {_md(gate.label)} | {_md(item.text)} | {event.sequence} | {_md(event.get_action_display())} "
                    f"| {_md(_who_signed(event))} | {_md(_when(event.created_at))} | {_md(event.note)} |"
                )
    if not any_event:
        lines.append("| — | — | — | no sign-off events | — | — | — |")
    lines += ["", "## Checklist items", ""]
    lines += ["| Gate | Item | Evidence required | Current state |", "| --- | --- | --- | --- |"]
    for gate in gates:
        for item in gate.items.all():
            required = "yes" if item.evidence_required else "no"
            lines.append(f"| {_md(gate.label)} | {_md(item.text)} | {required} | {_item_state(item)} |")
    lines += ["", "## Evidence files", ""]
    lines += [
        "| Id | Gate | Item | File | Uploaded by | Uploaded at | Original SHA-256 | Stored SHA-256 | Replaces "
        "| Replaced by |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    any_evidence = False
    for gate in gates:
        for item in gate.items.all():
            evidence = list(item.evidence.all())
            replaced_by = item_state(item).replaced_by
            for file in evidence:
                any_evidence = True
                lines.append(
                    f"| {file.pk} | {_md(gate.label)} | {_md(item.text)} "
                    f"| {_md(file.original_name)} ({file.format}, {file.width}×{file.height}) "
                    f"| {_md(_who(file.uploaded_by))} | {_md(_when(file.uploaded_at))} "
                    f"| `{file.original_sha256}` | `{file.stored_sha256}` "
                    f"| {file.replaces_id or '—'} | {replaced_by.get(file.pk, '—')} |"
                )
    if not any_evidence:
        lines.append("| — | — | — | no evidence files | — | — | — | — | — | — |")
    lines.append("")
    return "\n".join(lines)


# -- CSV ---------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not execute (OWASP CSV injection advice)."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def audit_csv(record: AuditRecord) -> str:
    """The same record as one CSV table; the ``record`` column says which kind of row."""
    batch = record.batch
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)

    def row(**values: object) -> None:
        writer.writerow([csv_cell(values.get(column, "")) for column in CSV_COLUMNS])

    for move in record.lifecycle:
        row(
            record="lifecycle",
            state_or_action=_lifecycle_text(batch, move),
            by=_who(move.by),
            at=_when(move.created_at),
            detail_or_note=" / ".join(part for part in (move.reason, move.detail) if part),
        )
    for gate in batch.gates.all():
        waiver = f"waived: {gate.waiver_reason}" if gate.waived_at else ""
        row(
            record="gate",
            gate=gate.label,
            state_or_action=gate.status,
            by=_who(gate.waived_by),
            at=_when(gate.last_checked_at),
            detail_or_note=" / ".join(part for part in (gate.detail, waiver) if part),
        )
        for waiver_event in record.waivers.get(gate.pk, []):
            row(
                record="waiver",
                gate=gate.label,
                state_or_action=waiver_event.action,
                by=_who(waiver_event.by) or "Gatehouse",
                at=_when(waiver_event.created_at),
                detail_or_note=waiver_event.reason or waiver_event.detail,
            )
        for item in gate.items.all():
            row(record="item", gate=gate.label, item=item.text, state_or_action=_item_state(item))
            for event in item.events.all():
                row(
                    record="signoff",
                    gate=gate.label,
                    item=item.text,
                    state_or_action=event.action,
                    by=_who_signed(event),
                    at=_when(event.created_at),
                    detail_or_note=event.note,
                )
            evidence = list(item.evidence.all())
            replaced_by = item_state(item).replaced_by
            for file in evidence:
                row(
                    record="evidence",
                    gate=gate.label,
                    item=item.text,
                    state_or_action=f"{file.format} {file.width}x{file.height}",
                    by=_who(file.uploaded_by),
                    at=_when(file.uploaded_at),
                    detail_or_note=file.original_name,
                    evidence_id=file.pk,
                    original_sha256=file.original_sha256,
                    stored_sha256=file.stored_sha256,
                    replaces_evidence_id=file.replaces_id or "",
                    replaced_by_evidence_id=replaced_by.get(file.pk, ""),
                )
    return out.getvalue()


def audit_render(record: AuditRecord, fmt: str) -> str:
    """The record in ``fmt`` (a key of :data:`FORMATS`)."""
    if fmt == "md":
        return audit_markdown(record)
    if fmt == "csv":
        return audit_csv(record)
    raise ValueError(f"Unknown audit record format {fmt!r}")
