"""GitHub webhooks: verify, parse (``providers.github_webhooks``), de-duplicate, queue a targeted re-evaluation."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from batches.models import WebhookDelivery
from batches.sync import prs_for_delivery
from batches.tasks import webhook_delivery_enqueue
from providers.github_webhooks import MalformedWebhook, parse_event, verify_signature

logger = logging.getLogger(__name__)


# Authenticated by the HMAC signature instead of a session, so neither login nor
# a CSRF token applies; this is the only csrf_exempt view in the project.
# sensitive_*: even a debug page (DEBUG must never be on in production) shows neither the secret nor the body.
@sensitive_variables("secret")
@sensitive_post_parameters()
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
    # Read from the stream, not request.body: GitHub sends up to 25 MB, past Django's form-data cap
    # (DATA_UPLOAD_MAX_MEMORY_SIZE). RequestBodyGuardMiddleware has already refused anything larger.
    body = request.read()
    if not verify_signature(secret, body, header):
        return HttpResponse("Signature does not match.", status=403, content_type="text/plain")

    event_name = request.headers.get("X-GitHub-Event", "")
    delivery = request.headers.get("X-GitHub-Delivery", "")
    if event_name == "ping":
        # The answer needs nothing from the body, so a ping is never refused for its payload.
        return HttpResponse("pong", content_type="text/plain")
    if not delivery:
        return HttpResponse("Missing X-GitHub-Delivery.", status=400, content_type="text/plain")
    try:
        event = parse_event(event_name, body)
    except MalformedWebhook as exc:
        # Correctly signed, so GitHub (or our secret's holder) sent it: say what is wrong, record nothing.
        logger.warning("Malformed %s delivery %s: %s", event_name or "unnamed", delivery[:100], exc)
        return HttpResponse(str(exc), status=400, content_type="text/plain")

    pr_ids = prs_for_delivery(repository=event.repository, numbers=event.pr_numbers, shas=event.head_shas)
    try:
        with transaction.atomic():
            # The delivery id and the work it asks for are one row, written in one transaction: the
            # row is the outbox. Queuing it is only an attempt: with the broker down the delivery is
            # still accepted, and the outbox sweep queues it later (webhook_outbox_drain).
            recorded = WebhookDelivery.objects.create(
                delivery_id=delivery[:100], event=event_name[:50], pr_count=len(pr_ids), pr_ids=pr_ids
            )
            if pr_ids:
                transaction.on_commit(lambda: webhook_delivery_enqueue(recorded.pk))
    except IntegrityError:
        # GitHub redelivers with the same id; the first delivery is already in the outbox.
        return HttpResponse("Already received.", content_type="text/plain")
    if not pr_ids:
        return HttpResponse("Nothing to re-evaluate.", content_type="text/plain")
    return HttpResponse(f"Queued {len(pr_ids)} PR(s).", status=202, content_type="text/plain")
