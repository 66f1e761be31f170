from __future__ import annotations

import logging
import os
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import close_old_connections

logger = logging.getLogger("batches.sync")


def sync_loop(stop: threading.Event, interval: float) -> None:
    """Sync every active batch, then wait ``interval`` seconds; forever, never letting an error out."""
    from batches.sync import active_batches, batches_sync

    while not stop.is_set():
        try:
            close_old_connections()
            report = batches_sync(batches=list(active_batches()))
            for line in report.changes:
                logger.info("%s", line)
            for error in report.errors:
                logger.warning("Gate sync: %s", error)
        except Exception:
            # The web server must keep serving whatever went wrong here; say what it was.
            logger.exception("The gate sync loop failed; trying again in %s s.", interval)
        finally:
            close_old_connections()
        stop.wait(interval)


def start_sync_thread(interval: float) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=sync_loop, args=(stop, interval), name="gate-sync", daemon=True)
    thread.start()
    return thread, stop


class Command(BaseCommand):
    help = (
        "Run the development server with a gate sync loop beside it (every GATE_SYNC_INTERVAL_SECONDS), "
        "so the embedded default keeps gates fresh without Redis or a worker. With a broker configured, "
        "the loop stays off: `celery -A portal beat` and a worker do it."
    )

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--noreload", action="store_true", help="Do not restart on code changes")
        parser.add_argument("--sync", dest="sync", action="store_true", default=None, help="Run the loop anyway")
        parser.add_argument("--no-sync", dest="sync", action="store_false", help="No sync loop")

    def handle(self, *args, addrport: str, noreload: bool, sync: bool | None, **options):
        run_loop = settings.CELERY_TASK_ALWAYS_EAGER if sync is None else sync
        # With the autoreloader, the command runs twice: a watcher and the server
        # child (RUN_MAIN=true). Only the process that serves runs the loop.
        serving = noreload or os.environ.get("RUN_MAIN") == "true"
        if run_loop and serving:
            start_sync_thread(settings.GATE_SYNC_INTERVAL_SECONDS)
            logger.info("Gate sync loop started: every %s s.", settings.GATE_SYNC_INTERVAL_SECONDS)
        call_command("runserver", addrport, use_reloader=not noreload)
