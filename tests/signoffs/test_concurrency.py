"""Concurrent sign-offs on PostgreSQL: each thread has its own database connection.

SQLite serialises writers with a file lock, so only PostgreSQL shows whether
the row lock and the (item, sequence) constraint really keep the history whole.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections

from signoffs.itemstate import item_state
from signoffs.models import ChecklistItem, SignOff
from signoffs.services import SignOffError, signoff_record
from tests.factories import ChecklistItemFactory, UserFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _race(calls: list[dict]) -> list[object]:
    """Run each signoff_record(**call) in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int, call: dict) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = signoff_record(**call)
        except Exception as error:
            results[index] = error
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.fixture
def slow_insert(monkeypatch):
    """Hold the item lock a little longer, so the racing writer is sure to arrive while it is held."""
    original = SignOff.objects.create

    def create(**kwargs):
        time.sleep(0.1)
        return original(**kwargs)

    monkeypatch.setattr(SignOff.objects, "create", create)


@pytest.fixture
def people():
    return [UserFactory(username=f"racer{n}", role="engineer") for n in range(4)]


def test_two_simultaneous_ticks_leave_one_tick_and_one_clear_refusal(people, slow_insert):
    assert connection.vendor == "postgresql"
    for round_ in range(3):
        item = ChecklistItemFactory(key=f"race-{round_}")
        results = _race(
            [{"item": item, "user": people[0], "action": "tick"}, {"item": item, "user": people[1], "action": "tick"}]
        )

        ticks = [r for r in results if isinstance(r, SignOff)]
        refusals = [r for r in results if isinstance(r, SignOffError)]
        assert len(ticks) == 1, results
        assert len(refusals) == 1, results
        assert str(refusals[0]).startswith(f"Already ticked by {ticks[0].user.username}")
        assert list(SignOff.objects.filter(item=item).values_list("sequence", "action")) == [(1, "tick")]
        assert item_state(ChecklistItem.objects.get(pk=item.pk)).ticked


def test_simultaneous_ticks_and_notes_keep_a_complete_numbered_history(people, slow_insert):
    item = ChecklistItemFactory(key="race-mixed")
    calls = [
        {"item": item, "user": people[0], "action": "tick"},
        {"item": item, "user": people[1], "action": "tick"},
        {"item": item, "user": people[2], "action": "note", "note": "first note"},
        {"item": item, "user": people[3], "action": "note", "note": "second note"},
    ]
    results = _race(calls)

    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1, results  # only the second tick is refused
    assert isinstance(errors[0], SignOffError)
    events = list(SignOff.objects.filter(item=item).order_by("sequence"))
    assert [e.sequence for e in events] == [1, 2, 3]  # no gap, no duplicate, nothing lost
    assert sorted(e.action for e in events) == ["note", "note", "tick"]
    assert {e.note for e in events if e.action == "note"} == {"first note", "second note"}
    assert sum(e.action == "tick" for e in events) == 1
    assert item_state(ChecklistItem.objects.get(pk=item.pk)).ticked


def test_the_sequence_constraint_refuses_a_duplicate_even_without_the_lock(people):
    # The database's own guarantee, checked directly: a second event N is refused.
    from django.db import IntegrityError, transaction

    item = ChecklistItemFactory(key="constraint")
    SignOff.objects.create(item=item, sequence=1, action="tick", user=people[0])
    with pytest.raises(IntegrityError), transaction.atomic():
        SignOff.objects.create(item=item, sequence=1, action="note", user=people[1], note="x")
    assert SignOff.objects.filter(item=item).count() == 1


def test_two_simultaneous_replacements_of_one_file_leave_one_and_no_orphan_file(people):
    from signoffs.evidence import EvidenceRejected, evidence_add
    from signoffs.models import Evidence
    from tests.signoffs.conftest import image_bytes, stored_files, upload

    item = ChecklistItemFactory(key="replace-race")
    first = evidence_add(item=item, upload=upload(image_bytes("PNG")), by=people[0])
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def replace(index: int) -> None:
        try:
            content = image_bytes("PNG", size=(60 + index, 40))
            barrier.wait(timeout=10)
            results[index] = evidence_add(item=item, upload=upload(content), by=people[index], replaces=first)
        except Exception as error:
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=replace, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    winners = [r for r in results if isinstance(r, Evidence)]
    losers = [r for r in results if isinstance(r, EvidenceRejected)]
    assert len(winners) == 1, results
    assert len(losers) == 1, results
    assert "replaced" in str(losers[0])
    assert Evidence.objects.filter(item=item).count() == 2
    assert Evidence.objects.get(replaces=first) == winners[0]
    originals = {e.file.name for e in Evidence.objects.filter(item=item)}
    assert {p.name for p in stored_files() if p.parent.name != "thumbs"} == originals  # the loser's file is gone


def test_an_upload_racing_an_approval_is_refused_once_the_approval_commits(people):
    from django.db import transaction

    from batches.models import Batch, BatchState
    from signoffs.evidence import EvidenceRejected, evidence_add
    from signoffs.models import Evidence
    from signoffs.services import signoff_record
    from tests.factories import BatchFactory
    from tests.signoffs.conftest import image_bytes, stored_files, upload

    # A batch in progress (setup), made ready through the product: its one item ticked, then "mark ready".
    batch = BatchFactory(state=BatchState.IN_PROGRESS, number=6)
    item = ChecklistItemFactory(key="approval-race", gate__batch=batch)
    signoff_record(item=item, user=people[2], action="tick")
    batch.mark_ready(by=people[0])
    approved = threading.Event()
    results: dict[str, object] = {}

    def approve() -> None:
        try:
            with transaction.atomic():
                Batch.objects.get(pk=batch.pk).approve(by=people[0])
                approved.set()
                # Written, not yet committed: the upload reads the batch as ready for review,
                # decodes and stores its file, and must then wait for this commit.
                time.sleep(0.5)
            results["approve"] = "committed"
        except Exception as error:
            results["approve"] = error
        finally:
            approved.set()
            connections.close_all()

    def add() -> None:
        try:
            assert approved.wait(timeout=10)
            results["upload"] = evidence_add(item=item, upload=upload(image_bytes("PNG")), by=people[1])
        except Exception as error:
            results["upload"] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve), threading.Thread(target=add)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert results["approve"] == "committed", results
    assert isinstance(results["upload"], EvidenceRejected), results
    assert str(results["upload"]) == "Batch 6 is approved; its evidence is final. Add a note instead."
    assert not Evidence.objects.filter(item=item).exists()
    assert stored_files() == []
