"""A plan's metrics as the page, the CSV export and the JSON API show them, read from the stored rows.

Never calls a provider: it reads :class:`~metrics.models.BatchMetrics` (one
query for every batch with its row) and works out the DORA summary and the
trend in Python. "No data" stays None here and reads "no data" on the page
and an empty cell in the CSV, never 0.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from batches.models import Batch, BatchState, Plan
from metrics import formulas
from metrics.formulas import METRICS, Metric
from metrics.models import BatchMetrics
from signoffs.audit import csv_cell

NO_DATA = "no data"


def duration_text(seconds: float | None) -> str:
    """“3 d 4 h”, “2 h 5 min”, “12 min”, “40 s”; “no data” for None."""
    if seconds is None:
        return NO_DATA
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def value_text(metric: Metric, value: float | None) -> str:
    if value is None:
        return NO_DATA
    if metric.unit == "duration":
        return duration_text(value)
    if metric.unit == "rate":
        return f"{value * 100:.0f}%"
    if metric.unit == "per week":
        return f"{value:g}/week"
    return f"{value:g}"


@dataclass
class BatchRow:
    """One batch's numbers; None is no data."""

    batch: Batch
    stored: BatchMetrics | None
    cycle_hours: float | None
    start_to_ready_seconds: int | None
    ready_to_approved_seconds: int | None
    start_to_approved_seconds: int | None
    pr_cycle_median_seconds: int | None
    findings_blocking: int | None
    findings_non_blocking: int | None
    escaped_defects: int | None
    deploys_per_week: float | None
    lead_time_seconds: int | None
    restore_seconds: int | None
    rollback: bool | None
    gate_flips_total: int | None
    notes: list[str] = field(default_factory=list)

    @property
    def number(self) -> int:
        return self.batch.number

    @property
    def findings_total(self) -> int | None:
        if self.findings_blocking is None and self.findings_non_blocking is None:
            return None
        return (self.findings_blocking or 0) + (self.findings_non_blocking or 0)

    def text(self, attribute: str) -> str:
        value = getattr(self, attribute)
        if value is None:
            return NO_DATA
        if attribute.endswith("_seconds"):
            return duration_text(value)
        if isinstance(value, bool):
            return "yes" if value else "no"
        return f"{value:g}"

    @cached_property
    def cells(self) -> dict[str, str]:
        """The row's numbers as the page's table shows them."""
        names = (
            "start_to_ready_seconds",
            "ready_to_approved_seconds",
            "start_to_approved_seconds",
            "pr_cycle_median_seconds",
            "findings_blocking",
            "findings_non_blocking",
            "escaped_defects",
            "deploys_per_week",
            "lead_time_seconds",
            "restore_seconds",
            "rollback",
            "gate_flips_total",
        )
        return {name: self.text(name) for name in names}


@dataclass
class Summary:
    """One DORA key (or cycle time) for the plan: the latest batch's value against the batches before it."""

    metric: Metric
    latest: float | None
    latest_batch: int | None
    previous: float | None
    trend: str  # better, worse, same, no data, first

    @property
    def latest_text(self) -> str:
        return value_text(self.metric, self.latest)

    @property
    def previous_text(self) -> str:
        return value_text(self.metric, self.previous)

    @property
    def trend_symbol(self) -> str:
        return {"better": "▲", "worse": "▼", "same": "="}.get(self.trend, "")


@dataclass
class PlanReport:
    plan: Plan
    rows: list[BatchRow]
    summary: list[Summary]
    metrics: dict[str, Metric]

    @cached_property
    def version(self) -> str:
        """A digest of everything the page shows: equal digests, equal pages (the page caches by it)."""
        parts: list[object] = [self.plan.pk, self.plan.slug, self.plan.title]
        for row in self.rows:
            batch = row.batch
            parts.append([batch.pk, batch.number, batch.title, batch.state])
            parts.append([batch.started_at, batch.ready_at, batch.approved_at])
            if row.stored is not None:
                parts.append({f.attname: getattr(row.stored, f.attname) for f in BatchMetrics._meta.concrete_fields})
        text = json.dumps(parts, default=str, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def computed(self) -> list[BatchRow]:
        return [row for row in self.rows if row.stored is not None]

    def chart_data(self) -> dict:
        """What the page's charts draw (through ``json_script``): the same numbers as its tables."""
        rows = self.rows
        return {
            "labels": [f"Batch {row.number}" for row in rows],
            "cycle_hours": [row.cycle_hours for row in rows],
            "findings_blocking": [row.findings_blocking for row in rows],
            "findings_non_blocking": [row.findings_non_blocking for row in rows],
            "escaped_defects": [row.escaped_defects for row in rows],
        }


def _row(batch: Batch) -> BatchRow:
    stored: BatchMetrics | None = getattr(batch, "metrics", None)
    if stored is not None:
        start_to_ready = stored.start_to_ready_seconds
        ready_to_approved = stored.ready_to_approved_seconds
        start_to_approved = stored.start_to_approved_seconds
    else:
        # Not approved (or not computed yet): the lifecycle gives what it has; providers give nothing yet.
        start_to_ready, ready_to_approved, start_to_approved = formulas.batch_cycle_time(
            batch.started_at, batch.ready_at, batch.approved_at
        )
    return BatchRow(
        batch=batch,
        stored=stored,
        cycle_hours=round(start_to_approved / 3600, 2) if start_to_approved is not None else None,
        start_to_ready_seconds=start_to_ready,
        ready_to_approved_seconds=ready_to_approved,
        start_to_approved_seconds=start_to_approved,
        pr_cycle_median_seconds=stored.pr_cycle_median_seconds if stored else None,
        findings_blocking=stored.ai_findings_blocking if stored else None,
        findings_non_blocking=stored.ai_findings_non_blocking if stored else None,
        escaped_defects=stored.escaped_defects if stored else None,
        deploys_per_week=stored.deploys_per_week if stored else None,
        lead_time_seconds=stored.lead_time_seconds if stored else None,
        restore_seconds=stored.restore_seconds if stored else None,
        rollback=stored.rollback if stored else None,
        gate_flips_total=stored.gate_flips_total if stored else None,
        notes=list(stored.notes) if stored else _pending_notes(batch),
    )


def _pending_notes(batch: Batch) -> list[str]:
    if batch.state == BatchState.APPROVED:
        return ["Approved, but its metrics are not computed yet: a release manager can recompute them."]
    return [f"{batch.get_state_display()}: the metrics are computed when the batch is approved."]


def _trend(metric: Metric, latest: float | None, previous: float | None) -> str:
    if latest is None:
        return NO_DATA
    if previous is None:
        return "first"
    if latest == previous:
        return "same"
    improved = latest < previous if metric.better == "lower" else latest > previous
    return "better" if improved else "worse"


def _per_batch_summary(metric: Metric, rows: list[BatchRow], value: Callable[[BatchRow], float | None]) -> Summary:
    """The latest batch with data against the median of the batches with data before it."""
    known = [(row.number, v) for row in rows if row.stored is not None and (v := value(row)) is not None]
    if not known:
        return Summary(metric, None, None, None, NO_DATA)
    latest_batch, latest = known[-1]
    previous = formulas.median(v for _, v in known[:-1])
    return Summary(metric, latest, latest_batch, previous, _trend(metric, latest, previous))


def _failure_rate_summary(rows: list[BatchRow]) -> Summary:
    """Change failure rate over every computed batch, against the rate before the latest batch with a deploy."""
    metric = METRICS["change_failure_rate"]
    outcomes = [(row.number, (row.escaped_defects, row.rollback)) for row in rows if row.stored is not None]
    with_deploy = [(n, o) for n, o in outcomes if o[0] is not None or o[1] is not None]
    latest = formulas.change_failure_rate(o for _, o in with_deploy)
    if latest is None:
        return Summary(metric, None, None, None, NO_DATA)
    previous = formulas.change_failure_rate(o for _, o in with_deploy[:-1])
    return Summary(metric, latest, with_deploy[-1][0], previous, _trend(metric, latest, previous))


def report_batches(plan: Plan):
    """Every batch of the plan with its stored metrics: one query."""
    return plan.batches.select_related("metrics").order_by("number")


def plan_report(plan: Plan) -> PlanReport:
    rows = [_row(batch) for batch in report_batches(plan)]
    summary = [
        _per_batch_summary(METRICS["deployment_frequency"], rows, lambda r: r.deploys_per_week),
        _per_batch_summary(METRICS["lead_time"], rows, lambda r: r.lead_time_seconds),
        _failure_rate_summary(rows),
        _per_batch_summary(METRICS["time_to_restore"], rows, lambda r: r.restore_seconds),
        _per_batch_summary(METRICS["cycle_time"], rows, lambda r: r.start_to_approved_seconds),
    ]
    return PlanReport(plan=plan, rows=rows, summary=summary, metrics=METRICS)


CSV_COLUMNS = (
    "batch",
    "title",
    "state",
    "computed_at",
    "start_to_ready_seconds",
    "ready_to_approved_seconds",
    "start_to_approved_seconds",
    "pr_cycle_median_seconds",
    "ai_findings_blocking",
    "ai_findings_non_blocking",
    "escaped_defects",
    "escape_window_days",
    "deployed_at",
    "live_deploys",
    "deploys_per_week",
    "lead_time_seconds",
    "rollback",
    "restore_seconds",
    "gate_flips",
    "stale",
    "notes",
)


def _csv_value(value: object) -> object:
    if value is None:
        return ""  # no data: an empty cell, never 0
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def report_csv(report: PlanReport) -> str:
    """The page's rows as CSV, one line per batch; an empty cell is no data. Cells are formula-injection safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        stored = row.stored
        values = {
            "batch": row.number,
            "title": row.batch.title,
            "state": row.batch.state,
            "computed_at": stored.computed_at if stored else None,
            "start_to_ready_seconds": row.start_to_ready_seconds,
            "ready_to_approved_seconds": row.ready_to_approved_seconds,
            "start_to_approved_seconds": row.start_to_approved_seconds,
            "pr_cycle_median_seconds": row.pr_cycle_median_seconds,
            "ai_findings_blocking": row.findings_blocking,
            "ai_findings_non_blocking": row.findings_non_blocking,
            "escaped_defects": row.escaped_defects,
            "escape_window_days": stored.escape_window_days if stored else None,
            "deployed_at": stored.deployed_at if stored else None,
            "live_deploys": stored.live_deploys if stored else None,
            "deploys_per_week": row.deploys_per_week,
            "lead_time_seconds": row.lead_time_seconds,
            "rollback": row.rollback,
            "restore_seconds": row.restore_seconds,
            "gate_flips": row.gate_flips_total,
            "stale": stored.stale if stored else None,
            "notes": " ".join(row.notes),
        }
        writer.writerow([csv_cell(_csv_value(values[column])) for column in CSV_COLUMNS])
    return out.getvalue()
