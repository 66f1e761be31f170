"""Celery tasks for notifications: notifications.tasks (retry policy on a worker, the beat entry)."""

from __future__ import annotations

import pytest

from notifications.models import Delivery, DeliveryStatus
from notifications.services import MAX_ATTEMPTS, notify_review_decision
from tests.notifications.conftest import announce


class _Task:
    """Celery's side of the bound ``deliver`` task, as ``_retry_when_due`` sees it."""

    def __init__(self, *, eager):
        from types import SimpleNamespace

        self.request = SimpleNamespace(is_eager=eager)
        self.retried = None

    def retry(self, *, countdown, max_retries):
        from celery.exceptions import Retry

        self.retried = (countdown, max_retries)
        return Retry(when=countdown)


def test_a_worker_retries_a_failed_delivery_when_it_is_due_and_an_eager_run_does_not(
    journey, slack, django_capture_on_commit_callbacks
):
    from celery.exceptions import Retry

    from notifications.tasks import _retry_when_due

    announce(journey.plan, journey.release_manager, slack=slack)
    slack.answer("", status=500)
    with django_capture_on_commit_callbacks(execute=True):
        notify_review_decision(batch=journey.batch(1), decision="approved", by=None, key="k1")
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING
    worker = _Task(eager=False)
    with pytest.raises(Retry):
        _retry_when_due(worker, delivery)
    countdown, max_retries = worker.retried
    assert 0 < countdown <= 5
    assert max_retries == MAX_ATTEMPTS
    eager = _Task(eager=True)
    _retry_when_due(eager, delivery)
    assert eager.retried is None
    delivery.status = DeliveryStatus.SENT
    _retry_when_due(worker := _Task(eager=False), delivery)
    assert worker.retried is None


def test_beat_runs_the_periodic_pass():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["notifications-periodic"]
    assert entry["task"] == "notifications.tasks.notifications_periodic_task"
    assert entry["schedule"] == settings.NOTIFICATION_CHECK_INTERVAL_SECONDS
