"""What each event says: a subject, a sentence or two, and the absolute URL of the page it is about."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from batches.models import Batch, BatchEvent, GateEvent, GateState, Plan
from notifications.models import NotificationEvent
from portal.roles import Actor

SUBJECT_MAX = 300
DETAIL_MAX = 500


@dataclass(frozen=True)
class Message:
    plan: Plan
    event: str  # a NotificationEvent value
    key: str  # identifies the event: the same key is only ever announced once
    subject: str
    text: str
    url: str


def absolute_url(path: str) -> str:
    """``path`` on the portal as people reach it (``PORTAL_BASE_URL``): messages are read outside the portal."""
    return settings.PORTAL_BASE_URL + path


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _subject(plan: Plan, text: str) -> str:
    return _clip(f"{plan.title} · {text}", SUBJECT_MAX)


def _batch_name(batch: Batch) -> str:
    return f"Batch {batch.number} – {batch.title}"


def _duration(minutes: float) -> str:
    minutes = int(minutes)
    if minutes < 120:
        return f"{minutes} minutes"
    hours = minutes // 60
    return f"{hours} hours" if hours < 48 else f"{hours // 24} days"


def gate_failing_message(event: GateEvent) -> Message:
    gate = event.gate
    batch = gate.batch
    previous = GateState(event.previous_state).label.lower() if event.previous_state else "new"
    detail = f" {_clip(event.detail, DETAIL_MAX)}" if event.detail else ""
    return Message(
        plan=batch.plan,
        event=NotificationEvent.GATE_FAILING,
        key=f"gate-event:{event.pk}",
        subject=_subject(batch.plan, f"Batch {batch.number}: {gate.get_kind_display()} gate “{gate.label}” is failing"),
        text=f"The {gate.get_kind_display()} gate “{gate.label}” of {_batch_name(batch)} turned failing "
        f"(it was {previous}).{detail}",
        url=absolute_url(f"{batch.get_absolute_url()}#gate-{gate.pk}"),
    )


def batch_ready_message(event: BatchEvent) -> Message:
    batch = event.batch
    who = event.by.get_username() if event.by else "A release manager"
    return Message(
        plan=batch.plan,
        event=NotificationEvent.BATCH_READY,
        key=f"batch-event:{event.pk}",
        subject=_subject(batch.plan, f"Batch {batch.number} is ready for review"),
        text=f"{who} marked {_batch_name(batch)} ready for review: every gate passes or is waived.",
        url=absolute_url(batch.get_absolute_url()),
    )


def review_decision_message(*, batch: Batch, decision: str, by: Actor | None, key: str, note: str = "") -> Message:
    who = by.get_username() if by else "A reviewer"
    said = f" “{_clip(note, DETAIL_MAX)}”" if note.strip() else ""
    return Message(
        plan=batch.plan,
        event=NotificationEvent.REVIEW_DECISION,
        key=f"review-decision:{key}",
        subject=_subject(batch.plan, f"Batch {batch.number} review: {_clip(decision, 100)}"),
        text=f"{who} recorded the review decision “{_clip(decision, 100)}” on {_batch_name(batch)}.{said}",
        url=absolute_url(batch.get_absolute_url()),
    )


def gate_stale_message(event: GateEvent, *, now: datetime) -> Message:
    """``event`` is the change that made the gate stale: one message per stale spell."""
    gate = event.gate
    batch = gate.batch
    how_long = _duration((now - event.created_at).total_seconds() / 60)
    detail = f" The last error: {_clip(gate.detail, DETAIL_MAX)}" if gate.detail else ""
    return Message(
        plan=batch.plan,
        event=NotificationEvent.GATE_STALE,
        key=f"gate-stale:{event.pk}",
        subject=_subject(
            batch.plan, f"Batch {batch.number}: {gate.get_kind_display()} gate “{gate.label}” stale for {how_long}"
        ),
        text=f"The {gate.get_kind_display()} gate “{gate.label}” of {_batch_name(batch)} has been stale for "
        f"{how_long}: its provider could not be read since {event.created_at:%d %b %Y %H:%M} UTC.{detail}",
        url=absolute_url(f"{batch.get_absolute_url()}#gate-{gate.pk}"),
    )
