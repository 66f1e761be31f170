"""Celery tasks: thin, they take ids and call ``notifications.services``.

Retry policy lives here and in ``services.delivery_attempt`` (which decides
whether, and when, a failed delivery is due again): a worker retries with
Celery's countdown; an in-process run (the embedded default, and tests) never
retries inside the request that caused the event: the periodic pass sends the
delivery again once it is due.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from notifications.models import Delivery, DeliveryStatus
from notifications.services import MAX_ATTEMPTS, delivery_attempt, notifications_periodic

logger = logging.getLogger(__name__)

# The database being away is no reason to drop a task: retry with backoff (delivery_attempt is idempotent).
RETRY_ON_DATABASE_ERRORS: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
}


def delivery_enqueue(delivery_id: int) -> None:
    """Send the delivery in a task once the transaction that recorded it commits.

    Nothing that goes wrong here reaches the action that caused the event:
    not a broker that is down, nor (where tasks run in-process) an error in
    the task itself. It is logged, the delivery stays in the log, and the
    periodic pass sends a pending one later.
    """

    def send() -> None:
        try:
            deliver.delay(delivery_id)
        except Exception:
            logger.exception("Notification delivery %s was not sent now; the periodic pass will retry it.", delivery_id)

    transaction.on_commit(send)


def _retry_when_due(task, delivery: Delivery | None) -> None:
    if delivery is None or delivery.status != DeliveryStatus.RETRYING:
        return
    if task.request.is_eager:
        # In-process: retrying now would hold up whoever caused the event; the periodic pass will.
        return
    countdown = max(0.0, (delivery.next_attempt_at - timezone.now()).total_seconds())
    raise task.retry(countdown=countdown, max_retries=MAX_ATTEMPTS)


@shared_task(bind=True, ignore_result=True, max_retries=MAX_ATTEMPTS, **RETRY_ON_DATABASE_ERRORS)
def deliver(self, delivery_id: int, now: str | None = None) -> None:
    """Send one delivery (``now``: the periodic pass's clock, ISO 8601, for the due check)."""
    delivery = delivery_attempt(delivery_id=delivery_id, now=datetime.fromisoformat(now) if now else None)
    _retry_when_due(self, delivery)


@shared_task(ignore_result=True, max_retries=5, **RETRY_ON_DATABASE_ERRORS)
def notifications_periodic_task() -> None:
    """Beat's entry point: stale gates, due retries, abandoned sends."""
    report = notifications_periodic()
    if report.stale or report.resent or report.abandoned:
        logger.info(
            "Notifications: %s stale-gate messages, %s deliveries resent, %s abandoned.",
            len(report.stale),
            len(report.resent),
            report.abandoned,
        )
