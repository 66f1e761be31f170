"""Celery tasks: fan-out, the per-batch lock, retry policy, and a real worker end to end."""

from __future__ import annotations

import json
import os
import subprocess
import time
from types import SimpleNamespace

import pytest
from celery.exceptions import Retry
from django.conf import settings as django_settings

from batches.models import BatchState, GateKind, GateState
from batches.sync import SyncReport, batch_lock
from batches.tasks import _retry_on_errors, backoff_seconds, sync_all, sync_batch
from providers.fake import example
from providers.github_webhooks import signature_for
from providers.http import RateLimited, Unavailable
from tests.batches.conftest import REPO, SHA1, SHA2, WEBHOOK_SECRET
from tests.celery_worker import CELERY_WORKER_COMMAND
from tests.conftest import REPO as REPO_ROOT
from tests.factories import BatchFactory, GateFactory


@pytest.mark.django_db
def test_sync_all_fans_out_to_active_batches_only(open_prs, batch):
    approved = BatchFactory(plan=batch.plan, number=2, state=BatchState.APPROVED)
    approved_gate = GateFactory(batch=approved, kind=GateKind.CI, check_name="pytest")
    assert sync_all.delay().get() == 1
    assert batch.gates.get(kind=GateKind.CI).last_checked_at is not None
    approved_gate.refresh_from_db()
    assert approved_gate.last_checked_at is None


@pytest.mark.django_db
def test_sync_all_forgets_old_conditional_cache_rows(batch):
    from datetime import timedelta

    from django.utils import timezone

    from batches.models import ConditionalCache

    ConditionalCache.objects.create(
        url="http://x/old", etag='"a"', body="{}", fetched_at=timezone.now() - timedelta(days=31)
    )
    ConditionalCache.objects.create(url="http://x/new", etag='"b"', body="{}")
    sync_all.delay()
    assert list(ConditionalCache.objects.values_list("url", flat=True)) == ["http://x/new"]


@pytest.mark.django_db
def test_a_batch_sync_never_overlaps_itself(open_prs, batch):
    with batch_lock(batch.pk):
        sync_batch.delay(batch.pk)
        assert batch.gates.get(kind=GateKind.CI).last_checked_at is None
        assert not open_prs.seen
    sync_batch.delay(batch.pk)
    assert batch.gates.get(kind=GateKind.CI).last_checked_at is not None


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    for retries, (low, high) in {0: (2.5, 5), 1: (5, 10), 3: (20, 40), 10: (150, 300)}.items():
        samples = {backoff_seconds(retries) for _ in range(50)}
        assert all(low <= s <= high for s in samples)
        assert len(samples) > 1  # jittered


class _Task:
    """Celery's side of a bound task, as _retry_on_errors sees it."""

    def __init__(self, *, eager=False, retries=0):
        self.request = SimpleNamespace(is_eager=eager, retries=retries)
        self.retried = None

    def retry(self, *, exc, countdown, max_retries):
        self.retried = (exc, countdown, max_retries)
        return Retry(exc=exc, when=countdown)


def test_rate_limited_retries_after_the_providers_delay():
    task = _Task()
    report = SyncReport(
        errors=[Unavailable("502"), RateLimited("slow", retry_after=30), RateLimited("x", retry_after=5)]
    )
    with pytest.raises(Retry):
        _retry_on_errors(task, report)
    exc, countdown, _ = task.retried
    assert exc.retry_after == 30
    assert 30 <= countdown <= 35


def test_unavailable_retries_with_backoff_and_eager_runs_do_not_retry():
    task = _Task(retries=2)
    with pytest.raises(Retry):
        _retry_on_errors(task, SyncReport(errors=[Unavailable("timeout")]))
    assert 10 <= task.retried[1] <= 20
    eager = _Task(eager=True)
    _retry_on_errors(eager, SyncReport(errors=[Unavailable("timeout")]))
    assert eager.retried is None
    _retry_on_errors(task := _Task(), SyncReport())
    assert task.retried is None


def test_beat_schedule_uses_the_sync_interval():
    entry = django_settings.CELERY_BEAT_SCHEDULE["sync-all-gates"]
    assert entry["task"] == "batches.tasks.sync_all"
    assert entry["schedule"] == django_settings.GATE_SYNC_INTERVAL_SECONDS


@pytest.mark.services
@pytest.mark.worker
def test_real_worker_applies_a_webhook(transactional_db, client, providers, batch):
    """A real `celery -A portal worker` on Redis and PostgreSQL picks up a webhook's re-evaluation."""
    from portal.celery import app

    batch.prs.filter(number=2).update(head_sha=SHA2)
    providers.github_pr(REPO, 11, head_sha=SHA1)
    providers.github_pr(REPO, 12, head_sha=SHA2)
    for sha in (SHA1, SHA2):
        providers.github_checks(REPO, sha, [{"name": "pytest", "status": "completed", "conclusion": "success"}])
    db = django_settings.DATABASES["default"]
    database_url = (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
        f"/{db['NAME']}"
    )
    broker = django_settings.CELERY_BROKER_URL
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTEST_VERSION", "TEST_DATABASE_NAME", "PYTEST_XDIST_WORKER")
        },
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "REDIS_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "GITHUB_API_URL": providers.github_url,
        "GITHUB_TOKEN": "ghp-test",
        "RENDER_API_URL": providers.render_url,
        "SENTRY_URL": providers.sentry_url,
    }
    worker = subprocess.Popen(
        CELERY_WORKER_COMMAND,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    was_eager, old_broker = app.conf.task_always_eager, app.conf.broker_url
    app.conf.task_always_eager = False
    app.conf.broker_url = broker
    try:
        payload = example("github/webhook_pull_request_opened.json")
        payload["repository"]["full_name"] = REPO
        payload["number"] = payload["pull_request"]["number"] = 11
        body = json.dumps(payload).encode()
        response = client.post(
            "/webhooks/github/",
            body,
            content_type="application/json",
            headers={
                "X-GitHub-Event": "pull_request",
                "X-GitHub-Delivery": "worker-1",
                "X-Hub-Signature-256": signature_for(WEBHOOK_SECRET, body),
            },
        )
        assert response.status_code == 202
        ci = batch.gates.get(kind=GateKind.CI)
        deadline = time.monotonic() + 60
        while ci.state not in (GateState.PASSING, GateState.STALE) and time.monotonic() < deadline:
            assert worker.poll() is None, "the worker died"
            time.sleep(0.2)
            ci.refresh_from_db()
        assert ci.state == GateState.PASSING, (ci.state, ci.detail, worker.poll())
        assert batch.prs.get(number=1).head_sha == SHA1
    finally:
        app.conf.task_always_eager, app.conf.broker_url = was_eager, old_broker
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
        if worker.returncode not in (0, -15):
            print(output)


# Finding 2 (workers): a task that hit a database error was dropped without a retry.
@pytest.mark.django_db
def test_a_sync_retries_on_a_database_error_with_backoff(monkeypatch, batch):
    from django.db import OperationalError

    from batches import tasks

    calls = []

    def flaky(*, batch, pr_ids=None):
        calls.append(batch.pk)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return SyncReport()

    monkeypatch.setattr(tasks, "batch_sync", flaky)
    # In-process, Celery raises the retry it schedules; a worker would run it after the countdown.
    with pytest.raises(Retry) as retry:
        sync_batch.apply(args=(batch.pk,))
    assert isinstance(retry.value.exc, OperationalError)
    assert 0 <= retry.value.when <= tasks.BACKOFF_BASE_SECONDS  # first retry: up to the base, jittered
    retry.value.sig.apply()  # the retry itself: the database is back
    assert calls == [batch.pk, batch.pk]
    assert sync_batch.max_retries == tasks.MAX_RETRIES


def test_every_task_that_touches_the_database_retries_on_its_errors():
    from django.db import InterfaceError, OperationalError

    from batches import tasks
    from notifications.tasks import deliver, notifications_periodic_task
    from signoffs.tasks import make_evidence_thumbnail, thumbnails_catch_up_task

    for task in (
        tasks.sync_all,
        tasks.sync_batch,
        tasks.sync_prs,
        tasks.process_webhook_delivery,
        tasks.drain_webhook_outbox,
        deliver,
        notifications_periodic_task,
        make_evidence_thumbnail,
        thumbnails_catch_up_task,
    ):
        assert {OperationalError, InterfaceError} <= set(task.autoretry_for), task.name
        assert task.retry_backoff, task.name
