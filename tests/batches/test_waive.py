"""Waiving a gate: the gate_waive service and the batches:gate-waive view."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from batches.gates import Outcome, gate_store
from batches.models import GateEvent, GateEventAction, GateKind, GateState
from batches.services import GateWaiveError, gate_waive
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def ai_gate(batch):
    gate = batch.gates.get(kind=GateKind.AI_REVIEW)
    gate.record_result(state=GateState.REVIEWER_UNAVAILABLE, detail="PR #1: no AI review within 60 minutes")
    return gate


def url(gate):
    return reverse("batches:gate-waive", kwargs={"pk": gate.pk})


def test_waiving_records_who_and_why_in_history(ai_gate, release_manager):
    gate_waive(gate=ai_gate, by=release_manager, reason="  Claude is rate limited all morning  ")
    ai_gate.refresh_from_db()
    assert ai_gate.is_satisfied
    assert ai_gate.waived_by == release_manager
    assert ai_gate.waiver_reason == "Claude is rate limited all morning"
    event = GateEvent.objects.get(action=GateEventAction.WAIVED)
    assert (event.by, event.reason, event.state) == (
        release_manager,
        "Claude is rate limited all morning",
        GateState.REVIEWER_UNAVAILABLE,
    )


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_empty_reason_is_refused_and_nothing_changes(ai_gate, release_manager, reason):
    with pytest.raises(GateWaiveError, match="Write why the gate is being waived"):
        gate_waive(gate=ai_gate, by=release_manager, reason=reason)
    ai_gate.refresh_from_db()
    assert not ai_gate.is_waived
    assert not GateEvent.objects.filter(action=GateEventAction.WAIVED).exists()


@pytest.mark.parametrize(
    ("state", "message"),
    [(GateState.FAILING, "a finding to fix"), (GateState.PASSING, "nothing to waive")],
)
def test_failing_or_passing_gates_cannot_be_waived(ai_gate, release_manager, state, message):
    ai_gate.record_result(state=state)
    with pytest.raises(GateWaiveError, match=message):
        gate_waive(gate=ai_gate, by=release_manager, reason="because")


def test_findings_after_a_waiver_lift_it(ai_gate, release_manager):
    gate_waive(gate=ai_gate, by=release_manager, reason="reviewer down")
    ai_gate.refresh_from_db()
    gate_store(gate=ai_gate, outcome=Outcome(state=GateState.FAILING, detail="PR #1: claude[bot] requested changes"))
    ai_gate.refresh_from_db()
    assert not ai_gate.is_waived
    assert not ai_gate.is_satisfied
    actions = list(ai_gate.events.values_list("action", flat=True))
    assert actions == [GateEventAction.WAIVED, GateEventAction.WAIVER_LIFTED, GateEventAction.STATE_CHANGED]


def test_release_manager_waives_through_the_view(client, ai_gate, release_manager):
    client.login(username=release_manager.username, password=PASSWORD)
    response = client.post(url(ai_gate), {"reason": "Anthropic outage, see status page"})
    assert response.status_code == 302
    assert response.url == ai_gate.batch.get_absolute_url()
    ai_gate.refresh_from_db()
    assert ai_gate.waiver_reason == "Anthropic outage, see status page"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [f"Waived “{ai_gate.label}”."]


def test_view_shows_the_refusal_and_changes_nothing(client, ai_gate, release_manager):
    client.login(username=release_manager.username, password=PASSWORD)
    response = client.post(url(ai_gate), {"reason": ""})
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Write why the gate is being waived."]
    ai_gate.refresh_from_db()
    assert not ai_gate.is_waived


@pytest.mark.parametrize("persona", ["engineer", "ops", "stakeholder", "outsider"])
def test_other_roles_are_forbidden(client, ai_gate, request, persona):
    user = request.getfixturevalue(persona)
    client.login(username=user.username, password=PASSWORD)
    assert client.post(url(ai_gate), {"reason": "please"}).status_code == 403
    ai_gate.refresh_from_db()
    assert not ai_gate.is_waived


def test_anonymous_is_sent_to_login_and_get_is_not_allowed(client, ai_gate, release_manager):
    response = client.post(url(ai_gate), {"reason": "x"})
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    client.login(username=release_manager.username, password=PASSWORD)
    assert client.get(url(ai_gate)).status_code == 405
    assert client.post(reverse("batches:gate-waive", kwargs={"pk": 99999}), {"reason": "x"}).status_code == 404


def test_csrf_is_enforced(ai_gate, release_manager):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.login(username=release_manager.username, password=PASSWORD)
    assert client.post(url(ai_gate), {"reason": "x"}).status_code == 403
    ai_gate.refresh_from_db()
    assert not ai_gate.is_waived
