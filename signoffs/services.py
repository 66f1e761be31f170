"""Sign-off workflows: every tick, untick and note is a new row, written under a lock."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Max

from batches.models import BatchState
from signoffs.models import ChecklistItem, SignOff

NOTE_MAX_LENGTH = 2_000


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
    if len(note) > NOTE_MAX_LENGTH:
        raise SignOffError(f"Keep the note under {NOTE_MAX_LENGTH:,} characters (it has {len(note):,}).")
    try:
        with transaction.atomic():
            # Everything below is decided under the item's row lock, from the
            # rows as they are now; the caller's ``item`` may be stale. Only the item
            # row is locked (of=self), not its gate and batch.
            locked = ChecklistItem.objects.select_for_update(of=("self",)).select_related("gate__batch").get(pk=item.pk)
            batch = locked.gate.batch
            if action in SignOff.STATE_ACTIONS and batch.state == BatchState.APPROVED:
                raise SignOffError(f"Batch {batch.number} is approved; its sign-offs are final. Add a note instead.")
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
