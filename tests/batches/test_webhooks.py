"""POST /webhooks/github/: signature, de-duplication, targeted re-evaluation."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from batches.models import GateKind, GateState, WebhookDelivery
from providers.fake import example
from providers.github_webhooks import signature_for
from tests.batches.conftest import REPO, SHA1, WEBHOOK_SECRET
from tests.conftest import broker_back_up

pytestmark = pytest.mark.django_db
URL = "/webhooks/github/"


def post(client, body: bytes, *, event="pull_request", delivery="d-1", signature: str | None = None, secret=None):
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
    if signature is None:
        signature = signature_for(secret or WEBHOOK_SECRET, body)
    if signature:
        headers["X-Hub-Signature-256"] = signature
    return client.post(URL, body, content_type="application/json", headers=headers)


def pr_opened(number=11) -> bytes:
    payload = example("github/webhook_pull_request_opened.json")
    payload["repository"]["full_name"] = REPO
    payload["number"] = payload["pull_request"]["number"] = number
    return json.dumps(payload).encode()


def test_url_name():
    assert reverse("batches:github-webhook") == URL


def test_documented_signature_test_vector(client, settings):
    vector = example("github/webhook_signature_test_vector.json")
    assert signature_for(vector["secret"], vector["payload"].encode()) == vector["X-Hub-Signature-256"]
    assert vector["X-Hub-Signature-256"] == ("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    settings.GITHUB_WEBHOOK_SECRET = vector["secret"]
    ok = post(client, b"Hello, World!", event="ping", signature=vector["X-Hub-Signature-256"])
    assert ok.status_code == 200
    tampered = post(client, b"Hello, World?", event="ping", signature=vector["X-Hub-Signature-256"])
    assert tampered.status_code == 403


def test_missing_or_wrong_signature_changes_nothing(client, providers, batch, django_capture_on_commit_callbacks):
    body = pr_opened()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert post(client, body, signature="").status_code == 401
        assert post(client, body, signature="sha256=" + "0" * 64).status_code == 403
        assert post(client, body, secret="another secret").status_code == 403
        assert post(client, body + b" ", signature=signature_for(WEBHOOK_SECRET, body)).status_code == 403
    assert callbacks == []
    assert not WebhookDelivery.objects.exists()
    assert not providers.seen


def test_no_secret_configured_refuses_everything(client, settings, batch):
    settings.GITHUB_WEBHOOK_SECRET = None
    response = post(client, pr_opened(), secret="anything")
    assert response.status_code == 503
    assert not WebhookDelivery.objects.exists()


def test_get_is_not_allowed_and_no_login_is_needed(client, settings):
    settings.GITHUB_WEBHOOK_SECRET = WEBHOOK_SECRET
    assert client.get(URL).status_code == 405
    assert post(client, b"{}", event="ping").status_code == 200  # not a redirect to the login page


def test_pull_request_event_re_evaluates_that_pr_only(client, open_prs, batch, django_capture_on_commit_callbacks):
    open_prs.github_checks(REPO, SHA1, [{"name": "pytest", "status": "completed", "conclusion": "failure"}])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, pr_opened(11))
    assert response.status_code == 202
    assert len(callbacks) == 1
    assert WebhookDelivery.objects.get().pr_count == 1
    paths = {s.path for s in open_prs.requests_to("/github/")}
    assert f"/github/repos/{REPO}/pulls/11" in paths
    assert f"/github/repos/{REPO}/pulls/12" not in paths
    pr1 = batch.prs.get(number=1)
    assert pr1.head_sha == SHA1
    ci = batch.gates.get(kind=GateKind.CI)
    assert ci.state == GateState.FAILING  # any failing PR fails the gate, whatever PR #2 says
    # Gates not driven by PRs are left to the periodic sync.
    assert batch.gates.get(kind=GateKind.OBSERVABILITY).last_checked_at is None


def test_replayed_delivery_is_ignored(client, open_prs, batch, django_capture_on_commit_callbacks):
    body = pr_opened(11)
    with django_capture_on_commit_callbacks(execute=True) as first:
        assert post(client, body, delivery="same-guid").status_code == 202
    with django_capture_on_commit_callbacks(execute=True) as second:
        response = post(client, body, delivery="same-guid")
    assert response.status_code == 200
    assert response.content == b"Already received."
    assert (len(first), len(second)) == (1, 0)
    assert WebhookDelivery.objects.count() == 1


def test_check_run_event_finds_prs_by_number_and_head_sha(client, open_prs, batch, django_capture_on_commit_callbacks):
    batch.prs.filter(number=2).update(head_sha="ec26c3e57ca3a959ca5aad62de7213c562f8c821")
    payload = example("github/webhook_check_run_completed.json")
    payload["repository"]["full_name"] = REPO
    payload["check_run"]["pull_requests"][0]["number"] = 11
    body = json.dumps(payload).encode()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, event="check_run").status_code == 202
    assert WebhookDelivery.objects.get().pr_count == 2


def test_events_about_other_repositories_or_kinds_queue_nothing(
    client, open_prs, batch, django_capture_on_commit_callbacks
):
    batch.prs.filter(number=1).update(head_sha=SHA1)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        other = json.loads(pr_opened(11))
        other["repository"]["full_name"] = "someone/else"
        assert post(client, json.dumps(other).encode(), delivery="a").status_code == 200
        assert post(client, pr_opened(11), event="issues", delivery="b").status_code == 200
        status = {"sha": SHA1, "state": "success", "repository": {"full_name": REPO}}
        assert post(client, json.dumps(status).encode(), event="status", delivery="c").status_code == 202
    assert len(callbacks) == 1
    assert list(WebhookDelivery.objects.order_by("delivery_id").values_list("pr_count", flat=True)) == [0, 0, 1]


def test_bad_json_is_rejected(client, settings):
    settings.GITHUB_WEBHOOK_SECRET = WEBHOOK_SECRET
    assert post(client, b"{not json").status_code == 400
    assert not WebhookDelivery.objects.exists()


def test_check_suite_event_finds_prs_by_head_sha(client, open_prs, batch, django_capture_on_commit_callbacks):
    sha = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    batch.prs.filter(number=2).update(head_sha=sha)
    payload = example("github/webhook_check_suite_completed.json")
    payload["repository"]["full_name"] = REPO
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, json.dumps(payload).encode(), event="check_suite")
    assert response.status_code == 202
    assert len(callbacks) == 1
    assert WebhookDelivery.objects.get().pr_count == 1
    assert f"/github/repos/{REPO}/pulls/12" in {s.path for s in open_prs.requests_to("/github/")}


def _with(name: str, change) -> bytes:
    payload = example(f"github/{name}")
    payload["repository"]["full_name"] = REPO
    change(payload)
    return json.dumps(payload).encode()


MALFORMED = {
    "deeply nested JSON": ("check_run", b"[" * 100_000, "The body is nested too deeply"),
    "deeply nested JSON in an object": ("pull_request", b'{"a":' * 50_000, "The body is nested too deeply"),
    "a non-object repository": (
        "pull_request",
        _with("webhook_pull_request_opened.json", lambda p: p.update(repository="octo-org/gatehouse-demo")),
        "“repository” in the delivery is not an object.",
    ),
    "a non-object check_suite": (
        "check_suite",
        _with("webhook_check_suite_completed.json", lambda p: p.update(check_suite=["completed"])),
        "“check_suite” in the delivery is not an object.",
    ),
    "a non-string sha": (
        "status",
        json.dumps({"sha": 1111, "state": "success", "repository": {"full_name": REPO}}).encode(),
        "“sha” in the delivery is not a string.",
    ),
    "a non-string head_sha": (
        "check_run",
        _with("webhook_check_run_completed.json", lambda p: p["check_run"].update(head_sha=["1" * 40])),
        "“head_sha” in check_run is not a string.",
    ),
    "a non-object pull_request": (
        "pull_request_review",
        _with("webhook_pull_request_review_submitted.json", lambda p: p.update(pull_request=11)),
        "“pull_request” in the delivery is not an object.",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_but_correctly_signed_delivery_is_a_400_and_changes_nothing(
    case, client, open_prs, batch, django_capture_on_commit_callbacks
):
    event, body, sentence = MALFORMED[case]
    batch.prs.update(head_sha=SHA1)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, body, event=event)
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain"
    assert response.content.decode().startswith(sentence)
    assert callbacks == []
    assert not WebhookDelivery.objects.exists()
    assert not open_prs.seen
    # The same delivery id is not burnt: GitHub's redelivery of a fixed payload is accepted.
    assert post(client, pr_opened(11)).status_code == 202


# Finding 1: an anonymous oversized body with any signature header got Django's debug page, which
# showed GITHUB_WEBHOOK_SECRET among the view's local variables.
def test_an_oversized_anonymous_delivery_with_debug_on_shows_no_secret(settings, batch):
    from django.test import Client

    settings.DEBUG = True
    settings.GITHUB_WEBHOOK_SECRET = WEBHOOK_SECRET
    client = Client(raise_request_exception=False)
    body = b'{"zen": "' + b"x" * 2_700_000 + b'"}'  # over Django's 2.5 MB form-data cap
    response = post(client, body, signature="sha256=" + "0" * 64)
    assert response.status_code == 403
    assert WEBHOOK_SECRET.encode() not in response.content
    assert not WebhookDelivery.objects.exists()


def test_even_a_debug_page_from_the_webhook_hides_the_secret(settings, monkeypatch, batch):
    from django.test import Client

    def broken(event_name, body):
        raise RuntimeError("something unexpected")

    monkeypatch.setattr("batches.webhooks.parse_event", broken)
    settings.DEBUG = True
    settings.GITHUB_WEBHOOK_SECRET = WEBHOOK_SECRET
    response = post(Client(raise_request_exception=False), pr_opened())
    assert response.status_code == 500
    assert b"something unexpected" in response.content  # it is the debug page
    assert WEBHOOK_SECRET.encode() not in response.content
    assert b"It&#x27;s a Secret" not in response.content


def test_a_large_delivery_within_githubs_25_mb_is_read(client, settings, batch):
    settings.GITHUB_WEBHOOK_SECRET = WEBHOOK_SECRET
    body = b"{" + b" " * 3_000_000 + b"}"
    assert post(client, body, event="ping").status_code == 200


# Finding 2: with Redis unreachable the webhook recorded the delivery id, then answered 500; the
# redelivery was answered "Already received" and the update was lost for good.
def test_with_redis_down_a_delivery_is_accepted_and_processed_once_redis_is_back(
    client, open_prs, batch, broker_down, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from batches.tasks import webhook_outbox_drain

    open_prs.github_checks(REPO, SHA1, [{"name": "pytest", "status": "completed", "conclusion": "failure"}])
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, pr_opened(11), delivery="during-outage")
    assert response.status_code == 202
    delivery = WebhookDelivery.objects.get()
    assert delivery.processed_at is None
    assert f"/github/repos/{REPO}/pulls/11" not in {s.path for s in open_prs.requests_to("/github/")}
    # Still down: the sweep cannot queue it either, and it stays in the outbox.
    assert webhook_outbox_drain(older_than=timedelta(0)) == 1
    delivery.refresh_from_db()
    assert delivery.processed_at is None

    broker_back_up(broker_down)
    assert webhook_outbox_drain(older_than=timedelta(0)) == 1
    delivery.refresh_from_db()
    assert delivery.processed_at is not None
    assert f"/github/repos/{REPO}/pulls/11" in {s.path for s in open_prs.requests_to("/github/")}
    assert batch.gates.get(kind=GateKind.CI).state == GateState.FAILING
    # Exactly once: nothing left to drain, and GitHub's redelivery changes nothing.
    assert webhook_outbox_drain(older_than=timedelta(0)) == 0
    assert post(client, pr_opened(11), delivery="during-outage").content == b"Already received."


def test_the_sweep_waits_for_the_first_attempt_and_a_delivery_is_processed_once(
    client, open_prs, batch, django_capture_on_commit_callbacks
):
    from batches.tasks import process_webhook_delivery, webhook_outbox_drain

    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, pr_opened(11), delivery="fresh").status_code == 202
    delivery = WebhookDelivery.objects.get()
    assert delivery.processed_at is not None
    pulls = [s for s in open_prs.requests_to("/github/") if s.path == f"/github/repos/{REPO}/pulls/11"]
    process_webhook_delivery.delay(delivery.pk)  # queued twice: the claim lets only one run
    assert [s for s in open_prs.requests_to("/github/") if s.path == f"/github/repos/{REPO}/pulls/11"] == pulls
    assert webhook_outbox_drain() == 0
