"""Signed GitHub deliveries from the fake, as the portal's webhook view receives them."""

from __future__ import annotations

import hmac

import pytest

from batches.models import BatchState, WebhookDelivery
from providers.fake import example
from providers.fake.webhooks import (
    check_run_completed,
    deliver_github_webhook,
    pull_request_event,
    pull_request_review_submitted,
    signature,
    status_event,
    webhook_delivery,
)
from providers.github_webhooks import verify_signature
from tests.factories import BatchFactory, PlanFactory, PlannedPRFactory

REPO = "demo-org/paiid"
SECRET = "It's a Secret to Everybody"


def test_the_signature_matches_githubs_test_vector():
    vector = example("github/webhook_signature_test_vector.json")
    assert signature(vector["secret"], vector["payload"].encode()) == vector["X-Hub-Signature-256"]


def test_a_delivery_carries_githubs_headers_and_a_unique_id():
    payload = pull_request_event(REPO, "opened", number=7, head_sha="a" * 40)
    first = webhook_delivery(secret=SECRET, event="pull_request", payload=payload)
    second = webhook_delivery(secret=SECRET, event="pull_request", payload=payload)
    assert first.headers["X-GitHub-Event"] == "pull_request"
    assert first.headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert first.delivery_id != second.delivery_id
    assert verify_signature(SECRET, first.body, first.headers["X-Hub-Signature-256"])
    assert not hmac.compare_digest(first.headers["X-Hub-Signature-256"], signature("other", first.body))
    redelivery = webhook_delivery(secret=SECRET, event="pull_request", payload=payload, delivery_id=first.delivery_id)
    assert redelivery.delivery_id == first.delivery_id


def test_payloads_change_only_the_named_fields():
    run = check_run_completed(
        REPO, name="smoke", conclusion="failure", head_sha="b" * 40, numbers=[7], completed_at="2026-01-01T00:00:00Z"
    )
    official = example("github/webhook_check_run_completed.json")
    assert set(run) == set(official)
    assert run["repository"]["full_name"] == REPO
    assert (run["check_run"]["name"], run["check_run"]["conclusion"]) == ("smoke", "failure")
    assert [p["number"] for p in run["check_run"]["pull_requests"]] == [7]

    merged = pull_request_event(
        REPO, "closed", number=7, head_sha="b" * 40, merged_at="2026-01-01T00:00:00Z", merge_commit_sha="c" * 40
    )
    assert merged["pull_request"]["merged"] is True
    assert merged["pull_request"]["merge_commit_sha"] == "c" * 40

    review = pull_request_review_submitted(
        REPO,
        number=7,
        head_sha="b" * 40,
        login="claude[bot]",
        state="CHANGES_REQUESTED",
        submitted_at="2026-01-01T00:00:00Z",
    )
    assert review["review"]["state"] == "changes_requested"  # lower case in webhooks
    assert review["review"]["user"]["login"] == "claude[bot]"

    status = status_event(REPO, sha="b" * 40, context="smoke", state="success")
    assert (status["sha"], status["repository"]["full_name"]) == ("b" * 40, REPO)

    with pytest.raises(ValueError, match="No example"):
        pull_request_event(REPO, "edited", number=7, head_sha="b" * 40)


@pytest.mark.django_db(transaction=True)
def test_a_delivered_webhook_is_accepted_by_the_portal_with_its_signature_checked(live_server, settings):
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    settings.GITHUB_TOKEN = ""  # no provider reads: only the delivery is under test
    batch = BatchFactory(plan=PlanFactory(github_repository=REPO), state=BatchState.IN_PROGRESS)
    PlannedPRFactory(batch=batch, github_number=7)
    url = f"{live_server.url}/webhooks/github/"
    payload = pull_request_event(REPO, "opened", number=7, head_sha="a" * 40)

    assert deliver_github_webhook(url, secret="not the secret", event="pull_request", payload=payload) == 403
    assert not WebhookDelivery.objects.exists()
    assert deliver_github_webhook(url, secret=SECRET, event="pull_request", payload=payload, delivery_id="d-1") == 202
    assert deliver_github_webhook(url, secret=SECRET, event="pull_request", payload=payload, delivery_id="d-1") == 200
    delivery = WebhookDelivery.objects.get()
    assert (delivery.delivery_id, delivery.event, delivery.pr_count) == ("d-1", "pull_request", 1)
