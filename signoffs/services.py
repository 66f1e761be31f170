"""Sign-off workflows: every tick, untick and note is a new row, written under a lock."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Max

from signoffs.models import ChecklistItem, SignOff


class SignOffError(Exception):
    """A sign-off the rules refuse. ``str()`` is a sentence for people."""


def signoff_record(*, item: ChecklistItem, user, action: str, note: str = "") -> SignOff:
    """Append one event to ``item``'s history and return it.

    The item row is locked (``select_for_update``) while the next sequence
    number is chosen, so two people ticking at once are serialised: the first
    ticks, the second is told it is already ticked. The unique (item, sequence)
    constraint backs the lock up on databases where the lock is a no-op.
    """
    if action not in SignOff.Action.values:
        raise SignOffError(f"Unknown sign-off action “{action}”.")
    note = note.strip()
    if action == SignOff.Action.NOTE and not note:
        raise SignOffError("Write a note before saving it.")
    try:
        with transaction.atomic():
            locked = ChecklistItem.objects.select_for_update().get(pk=item.pk)
            events = SignOff.objects.filter(item=locked)
            current = events.filter(action__in=SignOff.STATE_ACTIONS).order_by("-sequence").first()
            is_ticked = current is not None and current.action == SignOff.Action.TICK
            if action == SignOff.Action.TICK:
                if is_ticked:
                    raise SignOffError(
                        f"Already ticked by {current.user.get_username()} at {current.created_at:%Y-%m-%d %H:%M} UTC."
                    )
                if locked.evidence_required and not locked.evidence.exists():
                    raise SignOffError("This item needs screenshot evidence: upload a file before ticking it.")
            elif action == SignOff.Action.UNTICK and not is_ticked:
                raise SignOffError("This item is not ticked.")
            sequence = (events.aggregate(n=Max("sequence"))["n"] or 0) + 1
            return SignOff.objects.create(item=locked, sequence=sequence, action=action, user=user, note=note)
    except IntegrityError:
        # Someone else wrote the same sequence number first (only possible where
        # the row lock is not honoured): their event stands, ours is refused.
        raise SignOffError("Someone else signed this item at the same moment; reload to see their change.") from None
