"""Celery tasks: thin wrappers that take ids and call ``batches.sync``.

Retry policy lives here: exponential backoff with jitter on 5xx and timeouts,
and the provider's own delay on rate limiting.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from batches.models import Batch, ConditionalCache, PlannedPR
from batches.sync import BatchBusy, SyncReport, active_batches, batch_sync
from providers.http import RateLimited

logger = logging.getLogger(__name__)

MAX_RETRIES = 5
BACKOFF_BASE_SECONDS = 5
BACKOFF_CAP_SECONDS = 300
# A webhook that lands while its batch is syncing waits this long and tries again.
BUSY_RETRY_SECONDS = 2
CONDITIONAL_CACHE_MAX_AGE = timedelta(days=30)


def backoff_seconds(retries: int) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so retries spread out."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _retry_on_errors(task, report: SyncReport) -> None:
    error = report.retry_error()
    # Eagerly run tasks (the embedded default) do not retry: the errors are on the
    # gates already and the next pass of the sync loop tries again.
    if error is None or task.request.is_eager:
        return
    if isinstance(error, RateLimited):
        countdown = error.retry_after + random.uniform(0, 5)
    else:
        countdown = backoff_seconds(task.request.retries)
    raise task.retry(exc=error, countdown=countdown, max_retries=MAX_RETRIES)


@shared_task(ignore_result=True)
def sync_all() -> int:
    """Beat's periodic entry point: one ``sync_batch`` per active batch. Returns how many were queued."""
    # Every new head commit leaves cached check-run pages behind; forget the old ones.
    # A still-used row that ages out costs one counted request to re-fetch.
    ConditionalCache.objects.filter(fetched_at__lt=timezone.now() - CONDITIONAL_CACHE_MAX_AGE).delete()
    ids = [batch.pk for batch in active_batches()]
    for batch_id in ids:
        sync_batch.delay(batch_id)
    return len(ids)


@shared_task(bind=True, ignore_result=True, max_retries=MAX_RETRIES)
def sync_batch(self, batch_id: int) -> None:
    batch = Batch.objects.select_related("plan").filter(pk=batch_id).first()
    if batch is None:
        return
    try:
        report = batch_sync(batch=batch)
    except BatchBusy:
        # The running sync does the same work; a periodic pass need not queue behind it.
        logger.info("Batch %s is already syncing; skipping this pass.", batch_id)
        return
    _retry_on_errors(self, report)


@shared_task(bind=True, ignore_result=True, max_retries=MAX_RETRIES)
def sync_prs(self, pr_ids: list[int]) -> None:
    """Targeted re-evaluation after a webhook: only these PRs and the gates that cover them."""
    by_batch: dict[int, list[int]] = {}
    for pr_id, batch_id in PlannedPR.objects.filter(pk__in=pr_ids).values_list("pk", "batch_id"):
        by_batch.setdefault(batch_id, []).append(pr_id)
    report = SyncReport()
    busy: list[int] = []
    for batch in Batch.objects.select_related("plan").filter(pk__in=by_batch):
        try:
            report.extend(batch_sync(batch=batch, pr_ids=by_batch[batch.pk]))
        except BatchBusy:
            busy.extend(by_batch[batch.pk])
    if busy and not self.request.is_eager:
        # Unlike a periodic pass, the webhook's news may be newer than what the
        # running sync read, so it must run after it rather than be dropped.
        sync_prs.apply_async(args=(busy,), countdown=BUSY_RETRY_SECONDS)
    _retry_on_errors(self, report)
