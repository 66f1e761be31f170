"""The API's metrics: the interface the metrics endpoint is written against.

Today it computes what the batches' own lifecycle timestamps give (cycle
time); escaped defects and AI-reviewer findings are "no data" (null, never
zero). The metrics module of issue 11 (parts 1–2) plugs in here: build
``BatchMetrics`` rows from its per-batch results in ``plan_metrics`` and set
``source`` to "metrics"; the endpoint and its schema stay as they are.
"""

from __future__ import annotations

import statistics
from datetime import datetime

from api.schemas import BatchMetrics, CycleTime, PlanMetrics
from batches.models import Batch, BatchState, Plan


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return int((end - start).total_seconds())


def batch_cycle_time(batch: Batch) -> CycleTime:
    """Cycle time from the lifecycle: started → ready → approved (``started_at``, ``ready_at``, ``approved_at``)."""
    return CycleTime(
        start_to_ready_seconds=_seconds(batch.started_at, batch.ready_at),
        ready_to_approved_seconds=_seconds(batch.ready_at, batch.approved_at),
        start_to_approved_seconds=_seconds(batch.started_at, batch.approved_at),
    )


def plan_metrics(plan: Plan) -> PlanMetrics:
    """Every batch's metrics, in plan order, in one query."""
    rows = []
    for batch in plan.batches.order_by("number"):
        rows.append(
            BatchMetrics(
                number=batch.number,
                title=batch.title,
                state=batch.state,
                started_at=batch.started_at,
                ready_at=batch.ready_at,
                approved_at=batch.approved_at,
                cycle_time=batch_cycle_time(batch),
                escaped_defects=None,
                ai_findings_blocking=None,
                ai_findings_non_blocking=None,
            )
        )
    approved = [
        row.cycle_time.start_to_approved_seconds
        for row in rows
        if row.state == BatchState.APPROVED and row.cycle_time.start_to_approved_seconds is not None
    ]
    return PlanMetrics(
        plan=plan.slug,
        source="lifecycle",
        batches=rows,
        median_start_to_approved_seconds=int(statistics.median(approved)) if approved else None,
    )
