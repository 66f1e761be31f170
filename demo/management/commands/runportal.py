from __future__ import annotations

import logging
import os
import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections
from django.urls import reverse

logger = logging.getLogger("batches.sync")
# How often the loop recomputes the metrics still due (escape windows still open, stale rows).
METRICS_INTERVAL_SECONDS = 3600


def sync_loop(stop: threading.Event, interval: float) -> None:
    """Sync every active batch, then wait ``interval`` seconds; forever, never letting an error out.

    Each pass also runs the notifications' periodic pass (stale gates, due retries), which
    beat runs in production: in-process, a failed notification is retried from here. Once an
    hour it also recomputes the metrics still due (beat's ``metrics-periodic`` in production).
    """
    from batches.sync import active_batches, batches_sync
    from metrics.services import metrics_periodic
    from notifications.services import notifications_periodic

    known_errors: set[str] = set()
    metrics_at: float | None = None
    while not stop.is_set():
        try:
            close_old_connections()
            report = batches_sync(batches=list(active_batches()))
            for line in report.changes:
                logger.info("%s", line)
            # An outage answers the same error every pass: say it when it starts and when it ends.
            errors = {str(error) for error in report.errors}
            for error in sorted(errors - known_errors):
                logger.warning("Gate sync: %s", error)
            for error in sorted(known_errors - errors):
                logger.info("Gate sync: no longer seeing “%s”", error)
            known_errors = errors
            notifications_periodic()
            if metrics_at is None or time.monotonic() - metrics_at >= METRICS_INTERVAL_SECONDS:
                metrics_at = time.monotonic()
                metrics_periodic()
        except Exception:
            # The web server must keep serving whatever went wrong here; say what it was.
            logger.exception("The gate sync loop failed; trying again in %s s.", interval)
        finally:
            close_old_connections()
        stop.wait(interval)


def local_base_url(addrport: str) -> str:
    """The loopback URL at which this process will answer, given runserver's ``addrport``."""
    host, _, port = addrport.rpartition(":")
    if not host:
        host, port = "", addrport
    host = host.strip("[]")
    if host in ("", "0", "0.0.0.0", "::"):  # noqa: S104 (listening everywhere: loopback reaches it)
        host = "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def start_sync_thread(interval: float) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=sync_loop, args=(stop, interval), name="gate-sync", daemon=True)
    thread.start()
    return thread, stop


class Command(BaseCommand):
    help = (
        "Run the development server with a gate sync loop beside it (every GATE_SYNC_INTERVAL_SECONDS), "
        "so the embedded default keeps gates fresh without Redis or a worker. With a broker configured, "
        "the loop stays off: `celery -A portal beat` and a worker do it. With no provider token set (and "
        "DEBUG on), it also serves the demo's simulated GitHub, Render and Sentry on loopback."
    )

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--noreload", action="store_true", help="Do not restart on code changes")
        parser.add_argument("--sync", dest="sync", action="store_true", default=None, help="Run the loop anyway")
        parser.add_argument("--no-sync", dest="sync", action="store_false", help="No sync loop")

    def handle(self, *args, addrport: str, noreload: bool, sync: bool | None, **options):
        run_loop = settings.CELERY_TASK_ALWAYS_EAGER if sync is None else sync
        # With the autoreloader, the command runs twice: a watcher and the server
        # child (RUN_MAIN=true). Only the process that serves runs the loop and the simulation.
        serving = noreload or os.environ.get("RUN_MAIN") == "true"
        interval = settings.GATE_SYNC_INTERVAL_SECONDS
        if serving:
            interval = self._simulate_providers(addrport) or interval
        if run_loop and serving:
            start_sync_thread(interval)
            logger.info("Gate sync loop started: every %s s.", interval)
        call_command("runserver", addrport, use_reloader=not noreload)

    def _simulate_providers(self, addrport: str) -> int | None:
        """Serve the demo's simulated providers when no real ones are configured; the loop's interval if so."""
        # The demo app sits above the domain; only this dev-server command reaches up to it.
        from demo.simulator import DEMO_SYNC_SECONDS, demo_providers_wanted, demo_world, simulator_start
        from providers.fake import WorldError

        decision = demo_providers_wanted()
        if not decision.on:
            self.stdout.write(decision.reason)
            return None
        base = local_base_url(addrport)
        try:
            world = demo_world()
        except WorldError as exc:
            raise CommandError(str(exc)) from exc
        simulator = simulator_start(world=world, webhook_url=base + reverse("batches:github-webhook"))
        self.stdout.write(
            self.style.WARNING(
                f"Demo: GitHub, Render and Sentry are simulated on {simulator.url} "
                f"(drive them at {base}{reverse('demo:providers')}). {decision.reason}"
            )
        )
        return min(settings.GATE_SYNC_INTERVAL_SECONDS, DEMO_SYNC_SECONDS)
