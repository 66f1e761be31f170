"""Liveness and readiness, for the platform's health checks (public: a load balancer has no login)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. No database, no session, nothing about the deployment.

    A restart will not fix a database outage, so liveness must not depend on it
    (that is /readyz/). It is also the benchmark's trivial view: the cost of a
    request through the middleware and nothing else.
    """
    return HttpResponse("ok\n", content_type="text/plain")


@login_not_required
@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: the database answers. A broker that does not is reported, and is not a reason to stop.

    With Redis down the portal still serves every page, tick, upload and webhook
    (the outbox and the catch-up passes queue what waits), so an instance that
    the platform stopped routing to, or restarted, for it would turn a Redis
    outage into an outage of everything. 503 names the part that is down; the
    error itself (host names, users) goes to the log, not to a stranger.
    """
    degraded = "" if _broker_ok() else "; degraded: broker"
    if not _database_ok():
        return HttpResponse(f"unavailable: database{degraded}\n", status=503, content_type="text/plain")
    return HttpResponse(f"ready{degraded}\n", content_type="text/plain")


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        logger.exception("Readiness: the database does not answer")
        return False
    return True


def _broker_ok() -> bool:
    if not settings.CELERY_BROKER_URL:
        return True  # the embedded default runs tasks in-process
    from portal.celery import app

    try:
        with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception:  # kombu raises the transport's own errors (redis, amqp, OSError)
        logger.exception("Readiness: the broker does not answer")
        return False
    return True
