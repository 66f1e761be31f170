"""Recording and sending notifications: notifications.services (and the hooks in batches that call it)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from batches.models import BatchState, GateKind, GateState
from batches.signals import review_decision_recorded
from notifications.models import Channel, Delivery, DeliveryStatus, NotificationEvent
from notifications.services import (
    MAX_ATTEMPTS,
    notifications_periodic,
    notify_gate_event,
    notify_review_decision,
    plan_notifications_configure,
)
from tests.notifications.conftest import PORTAL, announce
from tests.pages.helpers import client_for, move_url


def _fail_ci(journey, number=1):
    batch = journey.batch(number)
    if batch.state == BatchState.PLANNED:
        batch.start(by=journey.release_manager)
    journey.open_prs(batch)
    journey.report(batch, ci="failure")
    journey.sync(batch)
    gate = batch.gates.get(kind=GateKind.CI)
    assert gate.state == GateState.FAILING
    return batch, gate


def _ready_to_mark(journey):
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.pass_everything(batch)
    return batch


# -- what is announced -------------------------------------------------------------------------


def test_notifications_are_off_by_default(journey, slack, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _fail_ci(journey)
    assert not Delivery.objects.exists()
    assert slack.posts == []


def test_a_gate_turning_failing_posts_to_slack_with_a_link_to_the_gate(
    journey, slack, django_capture_on_commit_callbacks
):
    announce(journey.plan, journey.release_manager, slack=slack)
    with django_capture_on_commit_callbacks(execute=True):
        _, gate = _fail_ci(journey)
    (delivery,) = Delivery.objects.all()
    assert (delivery.event, delivery.channel, delivery.status, delivery.attempts) == (
        NotificationEvent.GATE_FAILING,
        Channel.SLACK,
        DeliveryStatus.SENT,
        1,
    )
    link = f"{PORTAL}/plans/{journey.plan.slug}/batches/1/#gate-{gate.pk}"
    assert delivery.url == link
    (post,) = slack.posts
    assert post["text"].startswith(f"*<{link}|")
    assert f"CI gate “{gate.label}” is failing" in post["text"]
    assert "turned failing (it was needs configuration). PR #1: ci failure" in post["text"]


def test_a_batch_marked_ready_is_emailed_to_the_plans_recipients(journey, django_capture_on_commit_callbacks):
    announce(journey.plan, journey.release_manager, emails=["release@example.com", "ops@example.com"])
    batch = _ready_to_mark(journey)
    with django_capture_on_commit_callbacks(execute=True):
        batch.mark_ready(by=journey.release_manager)
    (message,) = mail.outbox
    assert message.to == ["release@example.com", "ops@example.com"]
    assert message.subject == f"[Gatehouse] {journey.plan.title} · Batch 1 is ready for review"
    assert "rita marked Batch 1 – " in message.body
    assert f"{PORTAL}/plans/{journey.plan.slug}/batches/1/" in message.body
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_only_the_events_the_plan_chose_are_announced(journey, slack, django_capture_on_commit_callbacks):
    announce(journey.plan, journey.release_manager, slack=slack, events=[NotificationEvent.BATCH_READY])
    with django_capture_on_commit_callbacks(execute=True):
        _fail_ci(journey)
    assert not Delivery.objects.exists()


def test_a_rolled_back_action_announces_nothing(journey, slack, django_capture_on_commit_callbacks):
    """The deliveries are written in the action's own transaction: no commit, no message."""
    from django.db import transaction

    announce(journey.plan, journey.release_manager, slack=slack)
    batch = _ready_to_mark(journey)

    def request_that_fails_later():
        with transaction.atomic():
            batch.mark_ready(by=journey.release_manager)
            raise RuntimeError("something later in the same request failed")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        request_that_fails_later()
    assert not Delivery.objects.exists()
    assert slack.posts == []


# -- never twice ---------------------------------------------------------------------------------


def test_the_same_event_recorded_twice_sends_nothing_more(journey, slack, django_capture_on_commit_callbacks):
    from batches.models import GateEvent

    announce(journey.plan, journey.release_manager, slack=slack, emails=["release@example.com"])
    with django_capture_on_commit_callbacks(execute=True):
        _, gate = _fail_ci(journey)
    event = GateEvent.objects.get(gate=gate, state=GateState.FAILING)
    with django_capture_on_commit_callbacks(execute=True):
        assert notify_gate_event(event=event) == []
    assert Delivery.objects.count() == 2  # one Slack, one email
    assert len(slack.posts) == 1
    assert len(mail.outbox) == 1


def test_a_review_decision_is_announced_once_per_key(journey, slack, django_capture_on_commit_callbacks):
    """Issue 10's hook: review sessions call notify_review_decision (or send the signal) when a decision is made."""
    announce(journey.plan, journey.release_manager, slack=slack)
    batch = journey.batch(1)
    with django_capture_on_commit_callbacks(execute=True):
        (delivery,) = notify_review_decision(
            batch=batch, decision="changes requested", by=journey.release_manager, key="session-7:1", note="Fix docs"
        )
        review_decision_recorded.send_robust(
            sender=None, batch=batch, decision="changes requested", by=journey.release_manager, key="session-7:1"
        )
    assert delivery.event == NotificationEvent.REVIEW_DECISION
    assert delivery.event_key == "review-decision:session-7:1"
    (post,) = slack.posts
    assert "rita recorded the review decision “changes requested” on Batch 1" in post["text"]
    assert "“Fix docs”" in post["text"]
    with django_capture_on_commit_callbacks(execute=True):
        review_decision_recorded.send_robust(
            sender=None, batch=batch, decision="approved", by=journey.release_manager, key="session-7:2"
        )
    assert len(slack.posts) == 2
    assert "“approved”" in slack.posts[1]["text"]


def test_a_claimed_delivery_is_not_sent_by_a_second_attempt(journey, slack, django_capture_on_commit_callbacks):
    from notifications.services import delivery_attempt

    announce(journey.plan, journey.release_manager, slack=slack)
    with django_capture_on_commit_callbacks(execute=True):
        _fail_ci(journey)
    delivery = Delivery.objects.get()
    assert delivery_attempt(delivery_id=delivery.pk) is None  # sent already: nothing to do
    assert len(slack.posts) == 1


# -- a failing channel ------------------------------------------------------------------------------


def test_a_failing_slack_endpoint_never_breaks_the_action_and_is_retried(
    journey, slack, django_capture_on_commit_callbacks
):
    announce(journey.plan, journey.release_manager, slack=slack)
    batch = _ready_to_mark(journey)
    slack.answer("internal_error", status=500)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(journey.release_manager).post(move_url("ready"))
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.state == BatchState.READY_FOR_REVIEW
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.RETRYING, 1)
    assert delivery.last_error == "Slack is unavailable (HTTP 500: internal_error)."
    assert timezone.now() < delivery.next_attempt_at < timezone.now() + timedelta(seconds=6)
    # Not due yet: the periodic pass leaves it alone.
    assert notifications_periodic().resent == []
    # Still failing when it is due: a second attempt, a longer wait.
    later = delivery.next_attempt_at + timedelta(seconds=1)
    assert notifications_periodic(now=later).resent == [delivery.pk]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.RETRYING, 2)
    assert delivery.next_attempt_at >= later + timedelta(seconds=5)
    # Slack is back: the third attempt delivers it.
    slack.answer("ok")
    notifications_periodic(now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.SENT, 3, "")
    assert len(slack.posts) == 3
    assert len({post["text"] for post in slack.posts}) == 1


def test_a_delivery_gives_up_after_its_last_attempt(journey, slack, django_capture_on_commit_callbacks):
    announce(journey.plan, journey.release_manager, slack=slack)
    slack.answer("", status=503)
    with django_capture_on_commit_callbacks(execute=True):
        _fail_ci(journey)
    delivery = Delivery.objects.get()
    for _ in range(MAX_ATTEMPTS - 1):
        notifications_periodic(now=delivery.next_attempt_at)
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, MAX_ATTEMPTS)
    assert delivery.last_error == f"Slack is unavailable (HTTP 503). (gave up after {MAX_ATTEMPTS} attempts)"
    assert notifications_periodic(now=delivery.next_attempt_at + timedelta(days=1)).resent == []
    assert len(slack.posts) == MAX_ATTEMPTS


def test_a_refused_webhook_fails_at_once_and_the_log_never_shows_its_secret(
    journey, slack, django_capture_on_commit_callbacks
):
    announce(journey.plan, journey.release_manager, slack=slack)
    slack.answer("no_service", status=404)
    with django_capture_on_commit_callbacks(execute=True):
        _fail_ci(journey)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert delivery.last_error.startswith("Slack refused the message (HTTP 404: no_service).")
    assert "s3cr3t" not in delivery.last_error


def test_an_unreachable_webhook_is_retried_without_naming_it(journey, slack, django_capture_on_commit_callbacks):
    announce(journey.plan, journey.release_manager, slack=slack)
    journey.fake.stop()  # nothing listens any more: the connection is refused
    # The plan's gates are not evaluated again here: announce through the review hook instead.
    with django_capture_on_commit_callbacks(execute=True):
        notify_review_decision(batch=journey.batch(1), decision="approved", by=None, key="k1")
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_error) == (DeliveryStatus.RETRYING, "Slack could not be reached.")


def test_slacks_rate_limit_sets_the_next_attempt(journey, slack, django_capture_on_commit_callbacks):
    announce(journey.plan, journey.release_manager, slack=slack)
    slack.answer("rate_limited", status=429, headers={"Retry-After": "30"})
    with django_capture_on_commit_callbacks(execute=True):
        notify_review_decision(batch=journey.batch(1), decision="approved", by=None, key="k1")
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 29 <= wait <= 31


def test_an_error_in_the_task_is_logged_and_never_reaches_the_request(
    journey, slack, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    """The embedded default runs tasks in-process: a bug in sending must not become the user's 500."""
    import notifications.services

    def broken(**kwargs):
        raise RuntimeError("a bug in the sender")

    monkeypatch.setattr(notifications.services, "slack_post", broken)
    announce(journey.plan, journey.release_manager, slack=slack)
    batch = _ready_to_mark(journey)
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        response = client_for(journey.release_manager).post(move_url("ready"))
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.state == BatchState.READY_FOR_REVIEW
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.last_error == "Unexpected error (RuntimeError); see the server log."
    assert "failed unexpectedly" in caplog.text


def test_a_broker_that_is_down_loses_nothing(journey, slack, monkeypatch, caplog, django_capture_on_commit_callbacks):
    """The delivery is written with the event; the periodic pass sends it when its first send was lost."""
    from notifications.tasks import deliver

    def down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")

    announce(journey.plan, journey.release_manager, slack=slack)
    batch = _ready_to_mark(journey)
    monkeypatch.setattr(deliver, "delay", down)
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        batch.mark_ready(by=journey.release_manager)
    assert "was not sent now; the periodic pass will retry it" in caplog.text
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    monkeypatch.undo()
    assert notifications_periodic().resent == []  # its on-commit send may still be on its way
    notifications_periodic(now=timezone.now() + timedelta(minutes=2))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert len(slack.posts) == 1


def test_turning_notifications_off_cancels_what_was_waiting(journey, slack, django_capture_on_commit_callbacks):
    announce(journey.plan, journey.release_manager, slack=slack)
    slack.answer("", status=500)
    with django_capture_on_commit_callbacks(execute=True):
        _fail_ci(journey)
    plan_notifications_configure(
        plan_id=journey.plan.pk,
        by=journey.release_manager,
        enabled=False,
        events=[],
        email_recipients=[],
        stale_after_minutes=60,
    )
    delivery = Delivery.objects.get()
    notifications_periodic(now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == (
        DeliveryStatus.CANCELLED,
        "Notifications were turned off for this plan.",
    )
    assert len(slack.posts) == 1


def test_a_send_abandoned_by_a_dead_worker_is_closed_not_resent(journey, slack, django_capture_on_commit_callbacks):
    from notifications.services import SENDING_TIMEOUT

    announce(journey.plan, journey.release_manager, slack=slack)
    batch = journey.batch(1)
    notify_review_decision(batch=batch, decision="approved", by=None, key="k1")  # on-commit send never runs
    delivery = Delivery.objects.get()
    # A worker claims it (as delivery_attempt does) and dies before recording the outcome.
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.SENDING, last_attempt_at=timezone.now())
    report = notifications_periodic(now=timezone.now() + SENDING_TIMEOUT + timedelta(seconds=1))
    assert report.abandoned == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert slack.posts == []


# -- stale gates ------------------------------------------------------------------------------------


def test_a_gate_stale_past_the_threshold_is_announced_once_per_spell(
    journey, slack, django_capture_on_commit_callbacks
):
    from tests.journey import REPO, head_sha

    announce(journey.plan, journey.release_manager, slack=slack, stale_after_minutes=30)
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.open_prs(batch)
    journey.report(batch)
    journey.sync(batch)
    # GitHub goes down: the next sync marks the PR-driven gates stale.
    journey.fake.raw(f"/github/repos/{REPO}/commits/{head_sha(1)}/check-runs", "{}", status=502)
    journey.sync(batch)
    gate = batch.gates.get(kind=GateKind.CI)
    assert gate.state == GateState.STALE
    stale_count = batch.gates.filter(state=GateState.STALE).count()
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications_periodic(now=timezone.now() + timedelta(minutes=20)).stale == []
        report = notifications_periodic(now=timezone.now() + timedelta(minutes=45))
    assert len(report.stale) == stale_count
    post = next(p for p in slack.posts if f"CI gate “{gate.label}”" in p["text"])
    assert "has been stale for 45 minutes" in post["text"]
    assert f"#gate-{gate.pk}" in post["text"]
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications_periodic(now=timezone.now() + timedelta(hours=5)).stale == []
    assert len(slack.posts) == stale_count
