"""Celery task: thin, it takes a batch id and calls ``metrics.services``."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

from batches.models import Batch
from metrics.services import MetricsRefused, batch_metrics_compute, metrics_periodic

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def compute_batch_metrics(batch_id: int) -> None:
    batch = Batch.objects.filter(pk=batch_id).first()
    if batch is None:
        return
    try:
        batch_metrics_compute(batch=batch)
    except MetricsRefused as refusal:
        logger.info("Metrics of batch %s not computed: %s", batch_id, refusal)


@shared_task(ignore_result=True)
def metrics_periodic_task() -> int:
    """Beat: recompute batches whose escape window was open, or whose providers could not be read."""
    return metrics_periodic()


def batch_metrics_enqueue(batch_id: int) -> None:
    """Compute the batch's metrics in a task once the approval commits.

    Nothing that goes wrong here reaches the approval: not a broker that is
    down, nor (where tasks run in-process) an error in the task itself. It is
    logged, and a recompute fills the numbers in later.
    """

    def compute() -> None:
        try:
            compute_batch_metrics.delay(batch_id)
        except Exception:
            logger.exception("Metrics of batch %s were not computed now; recompute them later.", batch_id)

    transaction.on_commit(compute)
