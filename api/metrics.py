"""The API's metrics: the stored per-batch metrics (``metrics/``), in the API's schema.

Rows come from :func:`metrics.report.plan_report`, the same read-model the
metrics page and its CSV use, so the three always agree. A batch not yet
approved has what its lifecycle gives (cycle time so far) and null for the
rest; null is "no data", never zero.
"""

from __future__ import annotations

from api.schemas import BatchMetrics, CycleTime, PlanMetrics
from batches.models import Plan
from metrics.formulas import median
from metrics.report import BatchRow, plan_report


def batch_cycle_time(row: BatchRow) -> CycleTime:
    return CycleTime(
        start_to_ready_seconds=row.start_to_ready_seconds,
        ready_to_approved_seconds=row.ready_to_approved_seconds,
        start_to_approved_seconds=row.start_to_approved_seconds,
    )


def plan_metrics(plan: Plan) -> PlanMetrics:
    """Every batch's metrics, in plan order, in one query."""
    report = plan_report(plan)
    rows = [
        BatchMetrics(
            number=row.number,
            title=row.batch.title,
            state=row.batch.state,
            started_at=row.batch.started_at,
            ready_at=row.batch.ready_at,
            approved_at=row.batch.approved_at,
            cycle_time=batch_cycle_time(row),
            escaped_defects=row.escaped_defects,
            ai_findings_blocking=row.findings_blocking,
            ai_findings_non_blocking=row.findings_non_blocking,
        )
        for row in report.rows
    ]
    approved = median(row.start_to_approved_seconds for row in report.rows if row.stored is not None)
    return PlanMetrics(
        plan=plan.slug,
        source="metrics",
        batches=rows,
        median_start_to_approved_seconds=int(approved) if approved is not None else None,
    )
