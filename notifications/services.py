"""Recording notifications where the domain records their events, and sending them afterwards.

Recording writes one ``Delivery`` per channel in the transaction of the event
itself (an outbox): if the action rolls back, nothing is announced; if the
event is recorded twice, the unique (event key, channel) finds the first row
and nothing more is sent. Sending happens after the commit, in a Celery task
(``notifications.tasks.deliver``), so a slow or failing channel never holds up
the action. ``notifications_periodic`` (beat, and runportal's loop in the
embedded default) announces gates stale past their plan's threshold and
sends deliveries that are due again.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from batches.models import (
    Batch,
    BatchEvent,
    BatchEventAction,
    BatchState,
    GateEvent,
    GateEventAction,
    GateState,
)
from batches.tasks import backoff_seconds
from notifications.messages import (
    Message,
    batch_ready_message,
    gate_failing_message,
    gate_stale_message,
    review_decision_message,
)
from notifications.models import Channel, Delivery, DeliveryStatus, NotificationEvent, PlanNotifications
from portal.roles import Actor
from providers.http import ProviderError, RateLimited
from providers.slack import slack_escape, slack_link, slack_post

logger = logging.getLogger(__name__)

# Attempts per delivery, the first included; then it is marked failed for good.
MAX_ATTEMPTS = 6
# A pending delivery whose on-commit send was lost (the broker was down) is picked up after this long.
PENDING_GRACE = timedelta(minutes=1)
# A delivery claimed for sending this long ago never finished: its worker died mid-send.
SENDING_TIMEOUT = timedelta(minutes=10)
# Celery's countdown and the database clock may disagree by a little.
CLOCK_SLACK = timedelta(seconds=2)


class DeliveryError(Exception):
    """A channel did not take the message. ``str()`` is for the delivery log (never a secret)."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


# -- recording -------------------------------------------------------------------------


def notification_record(*, message: Message) -> list[Delivery]:
    """Record ``message`` once per channel the plan announces its event on, and send each after the commit.

    Returns the deliveries written: none when the plan does not announce this
    event (notifications are off by default), or when the same event key was
    recorded before. Runs in its own savepoint, so a failed write here never
    spoils the transaction of the action that caused it.
    """
    from notifications.tasks import delivery_enqueue  # the task module imports this one

    with transaction.atomic():
        preferences = PlanNotifications.objects.filter(plan=message.plan).first()
        if preferences is None or not preferences.announces(message.event):
            return []
        written = []
        for channel in preferences.channels():
            try:
                with transaction.atomic():
                    delivery = Delivery.objects.create(
                        plan=message.plan,
                        event=message.event,
                        event_key=message.key,
                        channel=channel,
                        subject=message.subject,
                        text=message.text,
                        url=message.url,
                        recipients=list(preferences.email_recipients) if channel == Channel.EMAIL else [],
                    )
            except IntegrityError:
                continue  # recorded before: the same event is never sent twice
            written.append(delivery)
    for delivery in written:
        delivery_enqueue(delivery.pk)
    return written


def notify_gate_event(*, event: GateEvent) -> list[Delivery]:
    """A gate's history gained ``event``: announce it if the gate turned failing."""
    if event.action != GateEventAction.STATE_CHANGED or event.state != GateState.FAILING:
        return []
    return notification_record(message=gate_failing_message(event))


def notify_batch_ready(*, event: BatchEvent) -> list[Delivery]:
    """A batch was marked ready for review (``event`` is its BatchEvent)."""
    if event.action != BatchEventAction.MARKED_READY:
        return []
    return notification_record(message=batch_ready_message(event))


def notify_review_decision(
    *, batch: Batch, decision: str, by: Actor | None, key: str, note: str = ""
) -> list[Delivery]:
    """A review decision was recorded on ``batch``: announce it, once per ``key``.

    The hook for issue 10's review sessions: call it (or send
    ``batches.signals.review_decision_recorded``, which calls it) in the
    transaction that records the decision. ``key`` identifies the decision,
    e.g. the review session's pk and the decision's sequence.
    """
    return notification_record(
        message=review_decision_message(batch=batch, decision=decision, by=by, key=key, note=note)
    )


def stale_gates_notify(*, now: datetime | None = None) -> list[Delivery]:
    """Announce every gate of an open batch that has been stale for longer than its plan's threshold.

    Once per stale spell: the key is the history event that made the gate stale.
    """
    now = now or timezone.now()
    thresholds = {
        preferences.plan_id: now - timedelta(minutes=preferences.stale_after_minutes)
        for preferences in PlanNotifications.objects.filter(enabled=True)
        if preferences.announces(NotificationEvent.GATE_STALE)
    }
    if not thresholds:
        return []
    # Per gate, the change that started its current stale spell: the latest one into "stale".
    latest: dict[int, GateEvent] = {}
    for event in (
        GateEvent.objects.filter(
            gate__batch__plan_id__in=thresholds,
            gate__batch__state__in=(BatchState.IN_PROGRESS, BatchState.READY_FOR_REVIEW),
            gate__state=GateState.STALE,
            action=GateEventAction.STATE_CHANGED,
            state=GateState.STALE,
        )
        .select_related("gate__batch__plan")
        .order_by("gate_id", "created_at", "pk")
    ):
        latest[event.gate_id] = event
    due = [e for e in latest.values() if e.created_at <= thresholds[e.gate.batch.plan_id]]
    announced = set(
        Delivery.objects.filter(event_key__in=[f"gate-stale:{e.pk}" for e in due]).values_list("event_key", flat=True)
    )
    written = []
    for event in due:
        if f"gate-stale:{event.pk}" not in announced:
            written += notification_record(message=gate_stale_message(event, now=now))
    return written


# -- sending ---------------------------------------------------------------------------


def _slack_text(delivery: Delivery) -> str:
    return f"*{slack_link(delivery.url, delivery.subject)}*\n{slack_escape(delivery.text)}"


# The Slack webhook URL is a secret: hidden from error reports here and in every call below this one
# (the Slack client's frames included; providers/ itself imports nothing of Django's views).
@sensitive_variables("url", "webhook_url")
def channel_send(delivery: Delivery, preferences: PlanNotifications | None) -> None:
    """Send ``delivery`` on its channel. Raises DeliveryError."""
    if delivery.channel == Channel.SLACK:
        url = preferences.slack_webhook_url if preferences else ""
        if not url:
            raise DeliveryError("The plan no longer has a Slack webhook; not sent.", retryable=False)
        try:
            slack_post(webhook_url=url, text=_slack_text(delivery))
        except RateLimited as exc:
            raise DeliveryError(str(exc), retryable=True, retry_after=exc.retry_after) from None
        except ProviderError as exc:
            raise DeliveryError(str(exc), retryable=exc.retryable) from None
        return
    try:
        send_mail(
            subject=f"[Gatehouse] {delivery.subject}",
            message=f"{delivery.text}\n\n{delivery.url}\n",
            from_email=None,
            recipient_list=list(delivery.recipients),
        )
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        raise DeliveryError(f"The mail server refused the addresses: {exc}", retryable=False) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"The mail server did not take the message: {exc}", retryable=True) from None


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> Delivery | None:
    """Claim ``delivery_id`` and send it once; the delivery as it ended, or None if it was not ours to send.

    Not ours: already sent, being sent by someone else, cancelled, or not due
    yet. The claim is a conditional update, so two workers (a Celery retry
    and the periodic pass, say) never both send it. A failure is written to
    the log with its error; while attempts remain and the error is worth
    retrying, the delivery is due again after an exponential backoff.
    """
    now = now or timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id,
        status__in=(DeliveryStatus.PENDING, DeliveryStatus.RETRYING),
        next_attempt_at__lte=now + CLOCK_SLACK,
    ).update(status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, last_attempt_at=now)
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("plan").get(pk=delivery_id)
    preferences = PlanNotifications.objects.filter(plan_id=delivery.plan_id).first()
    if preferences is None or not preferences.enabled:
        return _delivery_end(delivery, DeliveryStatus.CANCELLED, "Notifications were turned off for this plan.")
    try:
        channel_send(delivery, preferences)
    except DeliveryError as exc:
        error, retryable, retry_after = str(exc), exc.retryable, exc.retry_after
    except Exception as exc:
        # A bug, not a channel's answer: keep the log honest and the worker alive. The exception's
        # text is left out of the log page in case it quotes the webhook URL.
        logger.exception("Notification delivery %s failed unexpectedly.", delivery_id)
        error, retryable, retry_after = f"Unexpected error ({type(exc).__name__}); see the server log.", True, None
    else:
        return _delivery_end(delivery, DeliveryStatus.SENT, "", sent_at=timezone.now())
    if not retryable or delivery.attempts >= MAX_ATTEMPTS:
        tried = f" (gave up after {delivery.attempts} attempts)" if retryable else ""
        return _delivery_end(delivery, DeliveryStatus.FAILED, error + tried)
    wait = retry_after if retry_after is not None else backoff_seconds(delivery.attempts - 1)
    return _delivery_end(delivery, DeliveryStatus.RETRYING, error, next_attempt_at=now + timedelta(seconds=wait))


def _delivery_end(delivery: Delivery, status: str, error: str, **fields) -> Delivery:
    Delivery.objects.filter(pk=delivery.pk).update(status=status, last_error=error, **fields)
    delivery.status, delivery.last_error = status, error
    for name, value in fields.items():
        setattr(delivery, name, value)
    return delivery


# -- the periodic pass -------------------------------------------------------------------


@dataclass
class PeriodicReport:
    stale: list[Delivery] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)
    abandoned: int = 0


def deliveries_due(*, now: datetime) -> list[int]:
    """Deliveries to send now: retries whose time has come, and pending ones whose first send was lost."""
    retrying = Delivery.objects.filter(status=DeliveryStatus.RETRYING, next_attempt_at__lte=now)
    lost = Delivery.objects.filter(status=DeliveryStatus.PENDING, created_at__lte=now - PENDING_GRACE)
    return sorted(set(retrying.values_list("pk", flat=True)) | set(lost.values_list("pk", flat=True)))


def notifications_periodic(*, now: datetime | None = None) -> PeriodicReport:
    """Announce stale gates, send due deliveries, and close deliveries whose sender died mid-send."""
    from notifications.tasks import deliver  # the task module imports this one

    now = now or timezone.now()
    report = PeriodicReport(stale=stale_gates_notify(now=now))
    # Their worker stopped while sending: the message may have gone out, so it is not sent again.
    report.abandoned = Delivery.objects.filter(
        status=DeliveryStatus.SENDING, last_attempt_at__lt=now - SENDING_TIMEOUT
    ).update(status=DeliveryStatus.FAILED, last_error="The sender stopped mid-send; not sent again in case it arrived.")
    for delivery_id in deliveries_due(now=now):
        try:
            deliver.delay(delivery_id, now=now.isoformat())
        except Exception:
            logger.exception("Could not send notification delivery %s; the next pass tries again.", delivery_id)
            continue
        report.resent.append(delivery_id)
    return report


# -- settings ------------------------------------------------------------------------------


def plan_notifications_for(plan_id: int) -> PlanNotifications:
    """The plan's notification settings; unsaved defaults (off) when it has none yet."""
    return PlanNotifications.objects.filter(plan_id=plan_id).first() or PlanNotifications(plan_id=plan_id)


def plan_notifications_configure(
    *,
    plan_id: int,
    by: Actor,
    enabled: bool,
    events: list[str],
    email_recipients: list[str],
    stale_after_minutes: int,
    slack_webhook_url: str | None = None,
    remove_slack_webhook: bool = False,
) -> PlanNotifications:
    """Save what the plan announces and where. ``slack_webhook_url`` None keeps the stored one (it is a
    secret: pages never show it back, so leaving the field empty means "unchanged")."""
    with transaction.atomic():
        preferences, _ = PlanNotifications.objects.select_for_update().get_or_create(plan_id=plan_id)
        preferences.enabled = enabled
        preferences.events = [e for e in NotificationEvent.values if e in events]
        preferences.email_recipients = list(dict.fromkeys(email_recipients))
        preferences.stale_after_minutes = stale_after_minutes
        if remove_slack_webhook:
            preferences.slack_webhook_url = ""
        elif slack_webhook_url:
            preferences.slack_webhook_url = slack_webhook_url
        preferences.updated_by = by
        preferences.save()
    return preferences
