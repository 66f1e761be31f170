"""A batch's delivery metrics as computed (see ``metrics/formulas.py`` for what each number means).

One row per batch, written when the batch is approved and rewritten by a recompute: it is a
computed summary, not history (the history it is computed from, GateEvent and BatchEvent, is
append-only). A null number is "no data", never zero; ``notes`` says why.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from batches.models import Batch


class BatchMetrics(models.Model):
    batch = models.OneToOneField(Batch, on_delete=models.CASCADE, related_name="metrics")
    computed_at = models.DateTimeField(default=timezone.now)

    # Cycle time, from the batch's own lifecycle.
    start_to_ready_seconds = models.PositiveIntegerField(null=True, blank=True)
    ready_to_approved_seconds = models.PositiveIntegerField(null=True, blank=True)
    start_to_approved_seconds = models.PositiveIntegerField(null=True, blank=True)

    # Per PR: [{number, github_number, url, opened_at, merged_at, cycle_seconds, findings_blocking,
    # findings_non_blocking}] in plan order; the PR numbers are the plan's.
    prs = models.JSONField(default=list, blank=True)
    pr_cycle_median_seconds = models.PositiveIntegerField(null=True, blank=True)
    ai_findings_blocking = models.PositiveIntegerField(null=True, blank=True)
    ai_findings_non_blocking = models.PositiveIntegerField(null=True, blank=True)

    # Render: the batch's deploy and what happened around it.
    deployed_at = models.DateTimeField(null=True, blank=True)
    live_deploys = models.PositiveIntegerField(null=True, blank=True)
    deploys_per_week = models.FloatField(null=True, blank=True)
    rollback = models.BooleanField(null=True, blank=True)
    lead_time_seconds = models.PositiveIntegerField(null=True, blank=True)

    # Sentry: issues first seen after the deploy, within the window.
    escape_window_days = models.PositiveSmallIntegerField(default=7)
    escaped_defects = models.PositiveIntegerField(null=True, blank=True)
    restore_seconds = models.PositiveIntegerField(null=True, blank=True)

    # [{gate, kind, flips}] in gate order, from GateEvent.
    gate_flips = models.JSONField(default=list, blank=True)
    gate_flips_total = models.PositiveIntegerField(default=0)

    # Why a number is missing ("no deploy yet", "GitHub could not be read: …"), for people.
    notes = models.JSONField(default=list, blank=True)
    stale = models.BooleanField(default=False, help_text="A provider could not be read: some numbers are missing")

    class Meta:
        verbose_name_plural = "batch metrics"

    def __str__(self) -> str:
        return f"Metrics of {self.batch}"
