"""`manage.py runportal`: the simulated providers when no real ones are configured, and the loop's pace."""

from __future__ import annotations

import logging
import threading
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from batches.models import GateKind
from demo.management.commands import runportal
from demo.simulator import DEMO_SYNC_SECONDS, running_simulator, simulator_stop


@pytest.mark.parametrize(
    ("addrport", "url"),
    [
        ("127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("8000", "http://127.0.0.1:8000"),
        ("0.0.0.0:8000", "http://127.0.0.1:8000"),
        ("0:8000", "http://127.0.0.1:8000"),
        ("[::1]:8000", "http://[::1]:8000"),
        ("localhost:9000", "http://localhost:9000"),
    ],
)
def test_the_loopback_url_of_the_server(addrport, url):
    assert runportal.local_base_url(addrport) == url


@pytest.fixture
def serve(monkeypatch, settings, tmp_path):
    """Run the command's decisions, without the web server or the loop thread."""
    settings.VAR_DIR = tmp_path
    settings.DEBUG = True
    settings.DEMO_PROVIDERS = None
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.GATE_SYNC_INTERVAL_SECONDS = 60
    for name in ("GITHUB_TOKEN", "RENDER_API_KEY", "SENTRY_AUTH_TOKEN", "GITHUB_WEBHOOK_SECRET"):
        setattr(settings, name, None)
    calls = {}
    monkeypatch.setattr(runportal, "call_command", lambda *args, **kwargs: calls.setdefault("runserver", args))
    monkeypatch.setattr(runportal, "start_sync_thread", lambda interval: calls.setdefault("interval", interval))

    def run(*args) -> str:
        out = StringIO()
        call_command("runportal", "127.0.0.1:8123", "--noreload", *args, stdout=out)
        return out.getvalue()

    yield run, calls
    simulator_stop()


def test_without_tokens_it_serves_the_simulated_providers(serve):
    run, calls = serve
    out = run()
    simulator = running_simulator()
    assert simulator is not None
    assert out.count("\n") == 1
    assert f"Demo: GitHub, Render and Sentry are simulated on {simulator.url} " in out
    assert "(drive them at http://127.0.0.1:8123/demo/providers/)" in out
    assert "to use the real providers, set GITHUB_TOKEN, RENDER_API_KEY and SENTRY_AUTH_TOKEN" in out
    assert django_settings.GITHUB_API_URL == f"{simulator.url}/github"
    assert simulator.webhook_url == "http://127.0.0.1:8123/webhooks/github/"
    assert calls == {"interval": DEMO_SYNC_SECONDS, "runserver": ("runserver", "127.0.0.1:8123")}
    assert (django_settings.VAR_DIR / "demo-providers.json").exists()


def test_with_a_real_token_nothing_is_simulated(serve, settings):
    run, calls = serve
    settings.SENTRY_AUTH_TOKEN = "sntrys-real"
    assert run() == "Real providers: SENTRY_AUTH_TOKEN set, so nothing is simulated.\n"
    assert running_simulator() is None
    assert calls["interval"] == 60


def test_a_broken_world_file_stops_the_command_with_the_way_out(serve, settings):
    run, _ = serve
    (settings.VAR_DIR / "demo-providers.json").write_text("{")
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="delete it to start the simulation afresh"):
        run()
    assert running_simulator() is None


@pytest.mark.django_db(transaction=True)
def test_the_dev_server_sync_loop_survives_errors_and_keeps_going(open_prs, batch, monkeypatch, caplog):
    # The loop runs in its own thread with its own connection, so the data must be committed.
    from batches import sync

    calls = []
    real = sync.batches_sync

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        result = real(**kwargs)
        stop.set()
        return result

    monkeypatch.setattr("batches.sync.batches_sync", flaky)
    stop = threading.Event()
    with caplog.at_level(logging.INFO, logger="batches.sync"):
        thread = threading.Thread(target=runportal.sync_loop, args=(stop, 0.01))
        thread.start()
        thread.join(timeout=20)
    assert not thread.is_alive()
    assert len(calls) == 2
    assert "The gate sync loop failed" in caplog.text
    assert "database went away" in caplog.text
    assert batch.gates.get(kind=GateKind.CI).last_checked_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_dev_server_loop_also_runs_the_notifications_pass(monkeypatch):
    """In-process there is no beat: the loop announces stale gates and retries failed deliveries."""
    passes = []

    def periodic(**kwargs):
        passes.append(kwargs)
        stop.set()

    monkeypatch.setattr("notifications.services.notifications_periodic", periodic)
    stop = threading.Event()
    thread = threading.Thread(target=runportal.sync_loop, args=(stop, 0.01))
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert passes == [{}]


@pytest.mark.django_db(transaction=True)
def test_the_dev_server_loop_recomputes_due_metrics_once_an_hour(monkeypatch):
    """In-process there is no beat: the loop's first pass, then one an hour, recomputes the metrics still due."""
    passes = []
    monkeypatch.setattr("metrics.services.metrics_periodic", lambda **kwargs: passes.append(kwargs))

    def notifications(**kwargs):
        if len(loops) == 2:
            stop.set()
        loops.append(1)

    loops: list[int] = []
    monkeypatch.setattr("notifications.services.notifications_periodic", notifications)
    stop = threading.Event()
    thread = threading.Thread(target=runportal.sync_loop, args=(stop, 0.01))
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert len(loops) == 3
    assert passes == [{}]  # three passes in well under an hour: one metrics pass
