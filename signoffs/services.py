"""Sign-off workflows: every tick, untick and note is a new row, written under a lock,
and the manual gate the item belongs to follows its checklist in the same transaction."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Max, Prefetch

from batches.gates import Outcome, gate_store
from batches.models import Batch, BatchState, Gate, GateKind, GateState
from portal.roles import Actor
from signoffs.itemstate import checklist_progress, item_state
from signoffs.models import ChecklistItem, Evidence, SignOff

NOTE_MAX_LENGTH = 2_000
CHECKLIST_SOURCE = "Manual checklist"


class SignOffError(Exception):
    """A sign-off the rules refuse. ``str()`` is a sentence for people."""


def tick_refusal(*, batch_state: str, batch_number: int, state) -> str | None:
    """Why a tick would be refused, given the item's ``ItemState``; None when it would be accepted.

    The pages ask this to show a disabled Tick with its reason; ``signoff_record``
    asks it again under the lock.
    """
    if batch_state == BatchState.APPROVED:
        return f"Batch {batch_number} is approved; its sign-offs are final. Add a note instead."
    if state.ticked:
        who = state.state_event.user.get_username() if state.state_event.user else "someone"
        return f"Already ticked by {who} at {state.state_event.created_at:%Y-%m-%d %H:%M} UTC."
    if state.needs_evidence:
        return "This item needs screenshot evidence: upload a file before ticking it."
    return None


def signoff_record(*, item: ChecklistItem, user: Actor, action: str, note: str = "") -> SignOff:
    """Append one event to ``item``'s history and return it.

    The item row is locked (``select_for_update``) while the next sequence
    number is chosen, so two people ticking at once are serialised: the first
    ticks, the second is told it is already ticked. The unique (item, sequence)
    constraint backs the lock up on databases where the lock is a no-op. A tick
    or untick re-derives the manual gate's state before the transaction commits.
    """
    if action not in SignOff.USER_ACTIONS:
        raise SignOffError(f"Unknown sign-off action “{action}”.")
    note = note.strip()
    if action == SignOff.Action.NOTE and not note:
        raise SignOffError("Write a note before saving it.")
    if len(note) > NOTE_MAX_LENGTH:
        raise SignOffError(f"Keep the note under {NOTE_MAX_LENGTH:,} characters (it has {len(note):,}).")
    try:
        with transaction.atomic():
            # Everything below is decided under row locks, from the rows as they
            # are now; the caller's ``item`` may be stale. The batch row first
            # (the order evidence_add takes them in): Batch.approve() locks it too,
            # so a tick either lands before an approval or sees it and is refused.
            batch = Batch.objects.select_for_update().get(gates__items=item.pk)
            locked = ChecklistItem.objects.select_for_update(of=("self",)).select_related("gate").get(pk=item.pk)
            state = item_state(locked)
            if action == SignOff.Action.TICK:
                refusal = tick_refusal(batch_state=batch.state, batch_number=batch.number, state=state)
                if refusal:
                    raise SignOffError(refusal)
            elif action == SignOff.Action.UNTICK:
                if batch.state == BatchState.APPROVED:
                    raise SignOffError(
                        f"Batch {batch.number} is approved; its sign-offs are final. Add a note instead."
                    )
                if not state.ticked:
                    raise SignOffError("This item is not ticked.")
            sequence = (SignOff.objects.filter(item=locked).aggregate(n=Max("sequence"))["n"] or 0) + 1
            event = SignOff.objects.create(item=locked, sequence=sequence, action=action, user=user, note=note)
            if action in SignOff.STATE_ACTIONS:
                manual_gate_refresh(gate_id=locked.gate_id)
            return event
    except IntegrityError:
        # Someone else wrote the same sequence number first (only possible where
        # the row lock is not honoured): their event stands, ours is refused.
        raise SignOffError("Someone else signed this item at the same moment; reload to see their change.") from None


def manual_gate_refresh(*, gate_id: int) -> bool:
    """Derive a manual gate's state from its checklist and store it; True when it changed.

    Passing when every item is ticked and every evidence-required item has
    current evidence; pending otherwise. Call it inside the transaction that
    changed an item (tick, untick, evidence, plan re-import). The gate row is
    locked first, so two people ticking the gate's last two items at once
    cannot both read "one still open": the second waits and then sees the first.
    """
    with transaction.atomic():
        gate = Gate.objects.select_for_update(of=("self",)).select_related("batch").get(pk=gate_id)
        if gate.kind != GateKind.MANUAL:
            return False
        items = ChecklistItem.objects.filter(gate_id=gate_id).prefetch_related(
            Prefetch(
                "events", queryset=SignOff.objects.filter(action__in=SignOff.STATE_ACTIONS).select_related("user")
            ),
            Prefetch("evidence", queryset=Evidence.objects.only("pk", "item_id", "replaces_id")),
        )
        progress = checklist_progress(item_state(item) for item in items)
        state = GateState.PASSING if progress.passing else GateState.PENDING
        return gate_store(gate=gate, outcome=Outcome(state=state, detail=progress.sentence(), source=CHECKLIST_SOURCE))
