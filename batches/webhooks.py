"""GitHub webhooks: verify, de-duplicate, queue a targeted re-evaluation, answer at once."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from batches.models import WebhookDelivery
from batches.sync import prs_for_delivery

logger = logging.getLogger(__name__)

PR_EVENTS = frozenset({"pull_request", "check_run", "check_suite", "pull_request_review", "status"})


def signature_for(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature_for(secret, body).encode(), header.encode())


def _affected(event: str, payload: dict[str, Any]) -> tuple[str, set[int], set[str]]:
    """(repository full name, PR numbers, head shas) a delivery is about."""
    repository = (payload.get("repository") or {}).get("full_name") or ""
    numbers: set[int] = set()
    shas: set[str] = set()
    if event in ("pull_request", "pull_request_review"):
        pull = payload.get("pull_request") or {}
        if isinstance(pull.get("number"), int):
            numbers.add(pull["number"])
    elif event in ("check_run", "check_suite"):
        item = payload.get(event) or {}
        shas.add(item.get("head_sha") or "")
        for pull in item.get("pull_requests") or []:
            if isinstance(pull, dict) and isinstance(pull.get("number"), int):
                numbers.add(pull["number"])
    elif event == "status":
        shas.add(payload.get("sha") or "")
    return repository, numbers, {s for s in shas if isinstance(s, str) and s}


# Authenticated by the HMAC signature instead of a session, so neither login nor
# a CSRF token applies; this is the only csrf_exempt view in the project.
@csrf_exempt
@login_not_required
@require_POST
def github_webhook(request: HttpRequest) -> HttpResponse:
    secret = settings.GITHUB_WEBHOOK_SECRET
    if not secret:
        # Accepting unsigned deliveries would let anyone trigger syncs; refuse until configured.
        return HttpResponse("Webhooks are off: set GITHUB_WEBHOOK_SECRET.", status=503, content_type="text/plain")
    header = request.headers.get("X-Hub-Signature-256", "")
    if not header:
        return HttpResponse("Missing X-Hub-Signature-256.", status=401, content_type="text/plain")
    body = request.body
    if not signature_matches(secret, body, header):
        return HttpResponse("Signature does not match.", status=403, content_type="text/plain")

    event = request.headers.get("X-GitHub-Event", "")
    delivery = request.headers.get("X-GitHub-Delivery", "")
    if event == "ping":
        return HttpResponse("pong", content_type="text/plain")
    if not delivery:
        return HttpResponse("Missing X-GitHub-Delivery.", status=400, content_type="text/plain")
    try:
        payload = json.loads(body)
    except ValueError:
        return HttpResponse("The body is not JSON.", status=400, content_type="text/plain")
    if not isinstance(payload, dict):
        return HttpResponse("The body is not a JSON object.", status=400, content_type="text/plain")

    pr_ids: list[int] = []
    if event in PR_EVENTS:
        repository, numbers, shas = _affected(event, payload)
        pr_ids = prs_for_delivery(repository=repository, numbers=numbers, shas=shas)
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(delivery_id=delivery[:100], event=event[:50], pr_count=len(pr_ids))
            if pr_ids:
                from batches.tasks import sync_prs

                transaction.on_commit(lambda: sync_prs.delay(pr_ids))
    except IntegrityError:
        # GitHub redelivers with the same id; the first delivery already queued the work.
        return HttpResponse("Already received.", content_type="text/plain")
    if not pr_ids:
        return HttpResponse("Nothing to re-evaluate.", content_type="text/plain")
    return HttpResponse(f"Queued {len(pr_ids)} PR(s).", status=202, content_type="text/plain")
