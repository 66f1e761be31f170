"""Celery tasks: thin wrappers that take ids and call ``batches.sync``.

Retry policy lives here: exponential backoff with jitter on 5xx and timeouts,
and the provider's own delay on rate limiting. A database that cannot be reached
(``OperationalError``/``InterfaceError``) is retried the same way, never dropped.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from batches.models import Batch, ConditionalCache, PlannedPR, WebhookDelivery
from batches.polling import Due, PollPolicy, batch_activity, cycle_plan, github_polling_pause, github_retry_wait
from batches.sync import BatchBusy, SyncReport, active_batches, batch_sync
from providers.http import RateLimited

logger = logging.getLogger(__name__)

MAX_RETRIES = 5
BACKOFF_BASE_SECONDS = 5
BACKOFF_CAP_SECONDS = 300
# A webhook that lands while its batch is syncing waits this long and tries again.
BUSY_RETRY_SECONDS = 2
CONDITIONAL_CACHE_MAX_AGE = timedelta(days=30)
# Errors that say the database is away for now, not that the work is wrong: retry, with backoff.
DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_ON_DATABASE_ERRORS: dict[str, Any] = {
    "autoretry_for": DATABASE_ERRORS,
    "retry_backoff": BACKOFF_BASE_SECONDS,
    "retry_backoff_max": BACKOFF_CAP_SECONDS,
    "retry_jitter": True,
}
# An unprocessed webhook delivery older than this is queued again by the outbox sweep (every 2 s):
# long enough for its first task to usually have run, short enough that what was accepted while Redis
# was away is queued within seconds of its return (the fault run's target is 10 s, all told).
# Queuing one twice costs nothing: the claim in process_webhook_delivery runs it once.
OUTBOX_GRACE = timedelta(seconds=2)


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


@shared_task(ignore_result=True, **RETRY_ON_DATABASE_ERRORS)
def sync_all() -> int:
    """Beat's periodic entry point: one ``sync_batch`` per batch due this cycle. Returns how many were queued."""
    # Every new head commit leaves cached check-run pages behind; forget the old ones.
    # A still-used row that ages out costs one counted request to re-fetch.
    ConditionalCache.objects.filter(fetched_at__lt=timezone.now() - CONDITIONAL_CACHE_MAX_AGE).delete()
    return len(poll_cycle())


def poll_cycle(*, now: datetime | None = None) -> list[Due]:
    """Queue this cycle's due batches (:mod:`batches.polling`), spread over the cycle; what was queued.

    Nothing is queued while GitHub's last headers say to wait or the reserve is reached:
    the batches stay due and, being the oldest, go first once polling resumes.
    """
    now = now or timezone.now()
    pause = github_polling_pause(now=now.timestamp())
    if pause:
        logger.warning("Polling paused: %s", pause)
        return []
    policy = PollPolicy.from_settings()
    plan = cycle_plan(batch_activity(active_batches(), now=now, hot=policy.hot), now=now, policy=policy)
    for due in plan:
        sync_batch.apply_async(args=(due.batch_id,), kwargs={"periodic": True}, countdown=due.countdown)
    return plan


@shared_task(bind=True, ignore_result=True, max_retries=MAX_RETRIES, **RETRY_ON_DATABASE_ERRORS)
def sync_batch(self, batch_id: int, periodic: bool = False) -> None:
    """Sync one batch. A ``periodic`` one (queued by the poll) is dropped if polling has since paused."""
    if periodic and (pause := github_polling_pause()):
        # The cycle stops early: the batch stays due and is polled first once the limit allows.
        logger.info("Batch %s not polled: %s", batch_id, pause)
        return
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


@shared_task(bind=True, ignore_result=True, max_retries=MAX_RETRIES, **RETRY_ON_DATABASE_ERRORS)
def sync_prs(self, pr_ids: list[int]) -> None:
    """Targeted re-evaluation after a webhook: only these PRs and the gates that cover them."""
    _sync_prs(self, pr_ids)


def _sync_prs(task, pr_ids: list[int]) -> None:
    wait = github_retry_wait()
    if wait is not None and not task.request.is_eager:
        # GitHub said to wait (retry-after, or the hourly limit spent): asking now would only be
        # refused again, and GitHub may block a client that keeps asking. The news waits, never dropped.
        sync_prs.apply_async(args=(pr_ids,), countdown=wait + random.uniform(0, 5))
        return
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
    if busy and not task.request.is_eager:
        # Unlike a periodic pass, the webhook's news may be newer than what the
        # running sync read, so it must run after it rather than be dropped.
        sync_prs.apply_async(args=(busy,), countdown=BUSY_RETRY_SECONDS)
    _retry_on_errors(task, report)


@shared_task(bind=True, ignore_result=True, max_retries=MAX_RETRIES, **RETRY_ON_DATABASE_ERRORS)
def process_webhook_delivery(self, delivery_id: int) -> None:
    """Re-evaluate what one webhook delivery asked for, once.

    The claim (a conditional update of ``processed_at``, its count checked) makes a
    delivery queued twice (by the webhook and by the sweep during an outage) run once.
    It comes before the sync: should a worker die mid-sync, the periodic ``sync_all``
    re-evaluates the same gates within ``GATE_SYNC_INTERVAL_SECONDS``, since a delivery
    naming a batch's PRs makes it hot (``batches.polling``) and so polled every cycle. Provider errors
    are retried as ``sync_prs`` retries them.
    """
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, processed_at__isnull=True).update(
        processed_at=timezone.now()
    )
    if not claimed:
        return
    pr_ids = WebhookDelivery.objects.values_list("pr_ids", flat=True).get(pk=delivery_id)
    if self.request.is_eager:
        _sync_prs(self, pr_ids)
    else:
        # Its own task, so provider retries (with backoff) re-run the sync, not the claim.
        sync_prs.delay(pr_ids)


def webhook_delivery_enqueue(delivery_id: int) -> None:
    """Queue a recorded delivery; if the broker (or, in-process, the work) fails, the sweep does it later.

    Called after the transaction that recorded the delivery commits, so the webhook
    answers 2xx whatever happens here: the delivery is safe in the outbox.
    """
    try:
        process_webhook_delivery.delay(delivery_id)
    except Exception:
        logger.warning("Webhook delivery %s was not queued now; the outbox sweep will queue it.", delivery_id)


def webhook_outbox_drain(*, older_than: timedelta = OUTBOX_GRACE) -> int:
    """Queue every recorded delivery not yet processed (and older than ``older_than``); how many.

    Beat runs it (``drain_webhook_outbox``), and so does runportal's loop in the
    embedded default: after a broker outage, what was accepted meanwhile is processed.
    """
    pending = list(
        WebhookDelivery.objects.filter(processed_at__isnull=True, received_at__lt=timezone.now() - older_than)
        .filter(pr_count__gt=0)
        .order_by("received_at")
        .values_list("pk", flat=True)[:500]
    )
    for delivery_id in pending:
        webhook_delivery_enqueue(delivery_id)
    return len(pending)


@shared_task(ignore_result=True, **RETRY_ON_DATABASE_ERRORS)
def drain_webhook_outbox() -> int:
    """Beat's entry point for :func:`webhook_outbox_drain`."""
    return webhook_outbox_drain()
