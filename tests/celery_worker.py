"""The real Celery worker command for the worker-tier test and the benchmark."""

from __future__ import annotations

import sys

# One process, no chatter between workers, so it is ready quickly and easy to stop.
CELERY_WORKER_COMMAND = [
    sys.executable,
    "-m",
    "celery",
    "-A",
    "portal",
    "worker",
    "--pool",
    "solo",
    "--loglevel",
    "WARNING",
    "--without-heartbeat",
    "--without-gossip",
    "--without-mingle",
]
