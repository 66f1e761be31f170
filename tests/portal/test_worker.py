"""portal.worker: the worker outlives Redis going away in the middle of a task."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings

from tests.batches.conftest import REPO
from tests.conftest import REPO as REPO_ROOT
from tests.conftest import closed_port


class OwnRedis:
    """A Redis of this test's own, on a free loopback port, to stop and start again."""

    def __init__(self) -> None:
        self.port = closed_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def _worker(broker: str, fake_providers) -> subprocess.Popen:
    """The Procfile's worker (prefork), on this test's database and broker."""
    db = django_settings.DATABASES["default"]
    database_url = (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
        f"/{db['NAME']}"
    )
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
        "GITHUB_API_URL": fake_providers.github_url,
        "GITHUB_TOKEN": "ghp-test",
        "RENDER_API_URL": fake_providers.render_url,
        "SENTRY_URL": fake_providers.sentry_url,
    }
    celery = str(Path(sys.executable).parent / "celery")
    command = [celery, "-A", "portal", "worker", "--without-gossip", "--without-mingle", "--concurrency", "1"]
    return subprocess.Popen(
        [*command, "--loglevel", "WARNING"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(condition, worker: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        if worker.poll() is not None:
            return False
        time.sleep(0.1)
    return False


@pytest.mark.services
@pytest.mark.worker
@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server to stop and start")
def test_a_worker_outlives_a_redis_outage_in_the_middle_of_a_task(transactional_db, open_prs, batch):
    from batches.tasks import sync_batch
    from portal.celery import app

    pull = f"/github/repos/{REPO}/pulls/11"
    route = open_prs.routes[("GET", pull)]
    # The sync is still running when Redis stops, and when it is back: its late ack comes after both.
    open_prs.raw(pull, route.body.decode(), delay=8)
    redis = OwnRedis()
    redis.start()
    worker = _worker(redis.url, open_prs)
    was_eager, old_broker = app.conf.task_always_eager, app.conf.broker_url
    app.conf.update(task_always_eager=False, broker_url=redis.url)
    app.amqp._producer_pool = None
    output = ""
    try:
        sync_batch.delay(batch.pk)
        assert _wait_for(lambda: open_prs.requests_to(pull), worker, 60), "the worker never ran the sync"
        redis.stop()
        time.sleep(3)
        assert worker.poll() is None, "the worker died with Redis"
        redis.start()
        time.sleep(8)
        assert worker.poll() is None, "the worker died when the running task was acknowledged"
        open_prs.raw(pull, route.body.decode())
        open_prs.clear_seen()
        app.amqp._producer_pool = None
        sync_batch.delay(batch.pk)
        assert _wait_for(lambda: open_prs.requests_to(pull), worker, 60), "the worker did not take work again"
    finally:
        app.conf.update(task_always_eager=was_eager, broker_url=old_broker)
        app.amqp._producer_pool = None
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
        redis.stop()
    assert "Unrecoverable error" not in output, output


class _LostConnection:
    """What the consumer holds once Redis has gone, as kombu's Redis transport behaves.

    Collecting detaches the transport; closing (which restores unacked messages) then reads
    Redis's address from the detached transport and fails with kombu's AttributeError.
    """

    connection_errors: tuple = ()
    channel_errors: tuple = ()

    def __init__(self) -> None:
        self._transport = SimpleNamespace(client=self)
        self.closed = False

    def collect(self, socket_timeout=None) -> None:
        self._transport.client = None

    def close(self) -> None:
        if self._transport.client is None:
            raise AttributeError("'NoneType' object has no attribute 'hostname'")
        self.closed = True


def _consumer(cls):
    consumer = cls.__new__(cls)  # only what on_connection_error_after_connected reads
    consumer.app = SimpleNamespace(
        conf=SimpleNamespace(
            worker_cancel_long_running_tasks_on_connection_loss=False, worker_enable_prefetch_count_reduction=False
        )
    )
    consumer.connection = _LostConnection()
    return consumer


# The bench's fault run: with Redis stopped while tasks were unacknowledged, closing the lost connection
# raised this, Celery called it "Unrecoverable error", and the worker exited for good.
@pytest.mark.filterwarnings("ignore::celery.exceptions.CPendingDeprecationWarning")
def test_a_lost_connection_closes_and_keeps_its_address_for_late_acks():
    from celery.worker.consumer import Consumer as CeleryConsumer

    from portal.worker import Consumer

    with pytest.raises(AttributeError):
        _consumer(CeleryConsumer).on_connection_error_after_connected(ConnectionError("lost"))
    consumer = _consumer(Consumer)
    lost = consumer.connection
    consumer.on_connection_error_after_connected(ConnectionError("lost"))
    assert consumer.connection is None  # dropped, so Celery's restart connects afresh
    assert lost.closed
    # A task still running acknowledges through the old channel later: its transport still knows where Redis is.
    assert lost._transport.client is lost


def test_the_worker_uses_this_consumer():
    assert django_settings.CELERY_WORKER_CONSUMER == "portal.worker:Consumer"


class _Reconnecting:
    """A broker connection that records how the consumer asks it to keep trying."""

    def __init__(self) -> None:
        self.asked: dict = {}

    def ensure_connection(self, errback=None, max_retries=None, **options):
        self.asked = {"max_retries": max_retries, **options}
        return self


# kombu waited 2, 4, 6 … up to 30 s between tries, and gave up after 100: after a long outage the worker
# sat idle for up to half a minute with Redis back, or had exited.
def test_the_worker_tries_to_reconnect_every_second_for_as_long_as_it_takes():
    from portal.worker import RECONNECT_INTERVAL_SECONDS, Consumer

    consumer = Consumer.__new__(Consumer)
    consumer.app = SimpleNamespace(
        conf=SimpleNamespace(
            broker_connection_retry_on_startup=True,
            broker_connection_retry=True,
            broker_connection_max_retries=django_settings.CELERY_BROKER_CONNECTION_MAX_RETRIES,
        )
    )
    consumer.first_connection_attempt = False
    conn = _Reconnecting()
    assert consumer.ensure_connected(conn) is conn
    assert conn.asked["max_retries"] is None  # for ever
    assert conn.asked["interval_start"] == conn.asked["interval_max"] == RECONNECT_INTERVAL_SECONDS == 1.0
    assert conn.asked["interval_step"] == 0
