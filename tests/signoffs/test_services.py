from __future__ import annotations

import pytest

from signoffs.itemstate import item_state
from signoffs.models import ChecklistItem, SignOff
from signoffs.services import SignOffError, signoff_record


@pytest.fixture
def item(sample_plan):
    return ChecklistItem.objects.get(gate__batch__number=1)


def test_tick_untick_and_note_append_history(item, engineer, release_manager):
    signoff_record(item=item, user=engineer, action="tick", note="Looks right")
    assert item_state(item).ticked
    signoff_record(item=item, user=release_manager, action="note", note="Confirmed with ops")
    signoff_record(item=item, user=release_manager, action="untick")
    assert not item_state(item).ticked
    history = list(item.events.values_list("sequence", "action", "user__username"))
    assert history == [(1, "tick", "eddie"), (2, "note", "rita"), (3, "untick", "rita")]


def test_second_tick_is_refused_and_writes_nothing(item, engineer, release_manager):
    signoff_record(item=item, user=engineer, action="tick")
    with pytest.raises(SignOffError, match="Already ticked by eddie"):
        signoff_record(item=item, user=release_manager, action="tick")
    assert SignOff.objects.count() == 1


def test_untick_of_unticked_item_is_refused(item, engineer):
    with pytest.raises(SignOffError, match="not ticked"):
        signoff_record(item=item, user=engineer, action="untick")


def test_empty_note_is_refused(item, engineer):
    with pytest.raises(SignOffError, match="Write a note"):
        signoff_record(item=item, user=engineer, action="note", note="   ")


def test_evidence_required_item_needs_a_file_first(sample_plan, engineer):
    item = ChecklistItem.objects.get(gate__batch__number=2)
    assert item.evidence_required
    with pytest.raises(SignOffError, match="needs screenshot evidence"):
        signoff_record(item=item, user=engineer, action="tick")
    assert not SignOff.objects.exists()


def test_ticks_on_an_approved_batch_are_refused_but_notes_are_kept(db, engineer):
    from batches.models import BatchState
    from tests.factories import ChecklistItemFactory

    item = ChecklistItemFactory(gate__batch__state=BatchState.APPROVED, gate__batch__number=7)
    with pytest.raises(SignOffError, match="Batch 7 is approved; its sign-offs are final"):
        signoff_record(item=item, user=engineer, action="tick")
    signoff_record(item=item, user=engineer, action="note", note="Seen after approval")
    assert list(item.events.values_list("action", flat=True)) == ["note"]


def test_overlong_note_is_refused(item, engineer):
    with pytest.raises(SignOffError, match="Keep the note under 2,000 characters"):
        signoff_record(item=item, user=engineer, action="note", note="x" * 2_001)
    assert not SignOff.objects.exists()


def test_state_comes_from_the_latest_tick_or_untick_only(item, engineer):
    signoff_record(item=item, user=engineer, action="tick")
    signoff_record(item=item, user=engineer, action="note", note="A later note does not change the state")
    assert item_state(item).ticked
    assert item_state(item).state_event.action == "tick"


# -- the manual gate follows its checklist ----------------------------------------------


def _manual(batch):
    from batches.models import GateKind

    return batch.gates.get(kind=GateKind.MANUAL)


def test_ticking_every_item_passes_the_manual_gate_and_an_untick_reopens_it(item, engineer):
    from batches.models import GateEventAction

    gate = item.gate
    signoff_record(item=item, user=engineer, action="tick")
    gate.refresh_from_db()
    assert (gate.state, gate.detail, gate.source) == ("passing", "1 of 1 item ticked.", "Manual checklist")
    signoff_record(item=item, user=engineer, action="note", note="notes change nothing")
    signoff_record(item=item, user=engineer, action="untick")
    gate.refresh_from_db()
    assert (gate.state, gate.detail) == ("pending", "0 of 1 item ticked.")
    changes = list(gate.events.filter(action=GateEventAction.STATE_CHANGED).values_list("previous_state", "state"))
    assert changes == [("pending", "passing"), ("passing", "pending")]


def test_a_gate_with_several_items_passes_only_when_all_are_done(engineer, ops):
    from signoffs.evidence import evidence_add
    from tests.factories import ChecklistItemFactory
    from tests.journey import screenshot

    first = ChecklistItemFactory(text="Dashboard green")
    gate = first.gate
    second = ChecklistItemFactory(gate=gate, text="Screenshot of Sentry", evidence_required=True)
    signoff_record(item=first, user=engineer, action="tick")
    gate.refresh_from_db()
    assert (gate.state, gate.detail) == ("pending", "1 of 2 items ticked; 1 still needs a screenshot.")
    with pytest.raises(SignOffError, match="needs screenshot evidence"):
        signoff_record(item=second, user=engineer, action="tick")
    evidence_add(item=second, upload=screenshot(), by=ops)
    gate.refresh_from_db()
    assert (gate.state, gate.detail) == ("pending", "1 of 2 items ticked.")
    signoff_record(item=second, user=engineer, action="tick")
    gate.refresh_from_db()
    assert gate.state == "passing"


def test_tick_refusals_match_what_the_service_refuses(item, engineer):
    from batches.models import BatchState
    from signoffs.services import tick_refusal

    state = item_state(item)
    assert tick_refusal(batch_state=BatchState.IN_PROGRESS, batch_number=1, state=state) is None
    assert "approved" in tick_refusal(batch_state=BatchState.APPROVED, batch_number=1, state=state)
    signoff_record(item=item, user=engineer, action="tick")
    refusal = tick_refusal(batch_state=BatchState.IN_PROGRESS, batch_number=1, state=item_state(item))
    with pytest.raises(SignOffError) as excinfo:
        signoff_record(item=item, user=engineer, action="tick")
    assert str(excinfo.value) == refusal


def test_ticks_on_an_approved_batch_are_refused(journey):
    batch = journey.approve(journey.batch(1))
    item = ChecklistItem.objects.get(gate__batch=batch)
    with pytest.raises(SignOffError, match="Batch 1 is approved; its sign-offs are final"):
        signoff_record(item=item, user=journey.engineer, action="untick")
    signoff_record(item=item, user=journey.engineer, action="note", note="Notes are still welcome")
    assert _manual(batch).state == "passing"


def test_people_cannot_write_reset_records(item, engineer):
    with pytest.raises(SignOffError, match="Unknown sign-off action"):
        signoff_record(item=item, user=engineer, action="reset")
