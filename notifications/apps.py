from __future__ import annotations

from django.apps import AppConfig


def _on_gate_state_changed(sender, *, event, **kwargs) -> None:
    from batches.models import GateState
    from notifications.services import notify_gate_event

    if event.state == GateState.FAILING:  # no query for the other changes
        notify_gate_event(event=event)


def _on_batch_marked_ready(sender, *, event, **kwargs) -> None:
    from notifications.services import notify_batch_ready

    notify_batch_ready(event=event)


def _on_review_decision_recorded(sender, *, batch, decision, by, key, note="", **kwargs) -> None:
    from notifications.services import notify_review_decision

    notify_review_decision(batch=batch, decision=decision, by=by, key=key, note=note)


class NotificationsConfig(AppConfig):
    """Listens to what ``batches`` announces (``batches/signals.py``); the domain never imports this app."""

    name = "notifications"

    def ready(self) -> None:
        from batches import signals

        signals.gate_state_changed.connect(_on_gate_state_changed, dispatch_uid="notifications.gate_state_changed")
        signals.batch_marked_ready.connect(_on_batch_marked_ready, dispatch_uid="notifications.batch_marked_ready")
        signals.review_decision_recorded.connect(
            _on_review_decision_recorded, dispatch_uid="notifications.review_decision_recorded"
        )
