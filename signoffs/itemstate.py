"""A checklist item's state, and a manual gate's, worked out in one place.

Every reader (the pages, the audit record, the admin, the sign-off service and
the manual-gate refresh) calls :func:`item_state` over the item's events and
evidence, which they prefetch, so the rule "an item is ticked when its latest
tick/untick/reset is a tick" and "current evidence is evidence nothing
replaced" each live here only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from signoffs.models import ChecklistItem, Evidence, SignOff


@dataclass(frozen=True)
class ItemState:
    history: list[SignOff]
    state_event: SignOff | None  # the latest tick, untick or reset
    current_evidence: list[Evidence]
    evidence_required: bool
    # Evidence id -> the id of the file that replaced it (every file stays in the history).
    replaced_by: dict[int, int] = field(default_factory=dict)

    @property
    def ticked(self) -> bool:
        return self.state_event is not None and self.state_event.action == SignOff.Action.TICK

    @property
    def needs_evidence(self) -> bool:
        """Evidence is required and no current file is attached."""
        return self.evidence_required and not self.current_evidence

    @property
    def done(self) -> bool:
        """What the manual gate asks of the item: ticked, with evidence where it is required."""
        return self.ticked and not self.needs_evidence


def item_state(item: ChecklistItem) -> ItemState:
    """The item's state from its events and evidence (prefetch them: ``events`` by sequence)."""
    history = sorted(item.events.all(), key=lambda e: e.sequence)
    state_events = [e for e in history if e.action in SignOff.STATE_ACTIONS]
    evidence = list(item.evidence.all())
    replaced_by = {e.replaces_id: e.pk for e in evidence if e.replaces_id}
    return ItemState(
        history=history,
        state_event=state_events[-1] if state_events else None,
        current_evidence=[e for e in evidence if e.pk not in replaced_by],
        evidence_required=item.evidence_required,
        replaced_by=replaced_by,
    )


def replacement_chain(evidence: Evidence, siblings: Iterable[Evidence]) -> list[Evidence]:
    """``evidence``'s replacement chain among its item's files (``siblings``), oldest first; no queries."""
    by_pk = {e.pk: e for e in siblings}
    by_pk[evidence.pk] = evidence
    replaced_by = {e.replaces_id: e.pk for e in by_pk.values() if e.replaces_id}
    older: list[Evidence] = []
    current = evidence
    while current.replaces_id and current.replaces_id in by_pk:
        current = by_pk[current.replaces_id]
        older.append(current)
    newer: list[Evidence] = []
    current = evidence
    while current.pk in replaced_by:
        current = by_pk[replaced_by[current.pk]]
        newer.append(current)
    return [*reversed(older), evidence, *newer]


@dataclass(frozen=True)
class ChecklistProgress:
    """A manual gate's checklist, summed up: the gate passes when every item is done."""

    total: int
    ticked: int
    done: int
    missing_evidence: int

    @property
    def passing(self) -> bool:
        return self.total > 0 and self.done == self.total

    def sentence(self) -> str:
        if self.total == 0:
            return "The checklist has no items."
        noun = "item" if self.total == 1 else "items"
        text = f"{self.ticked} of {self.total} {noun} ticked"
        if self.missing_evidence:
            text += f"; {self.missing_evidence} still need{'s' if self.missing_evidence == 1 else ''} a screenshot"
        return text + "."


def checklist_progress(states: Iterable[ItemState]) -> ChecklistProgress:
    states = list(states)
    return ChecklistProgress(
        total=len(states),
        ticked=sum(1 for s in states if s.ticked),
        done=sum(1 for s in states if s.done),
        missing_evidence=sum(1 for s in states if s.needs_evidence),
    )
