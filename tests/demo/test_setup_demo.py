"""`manage.py setup_demo`: the sample plan, the demo logins, and the plan seeded mid-flight once."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from batches.models import Batch, BatchState, GateEvent, GateEventAction, GateKind, GateState, WebhookDelivery
from demo.simulator import WORLD_FILE, running_simulator
from metrics.models import BatchMetrics
from signoffs.models import Evidence, SignOff

SLUG = "batch-plan-2025-10"


def run() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("setup_demo", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_imports_the_sample_plan_and_creates_the_logins(db, settings):
    settings.DEMO_PROVIDERS = False
    out, _ = run()
    assert "4 batches, 10 PRs" in out
    assert "Not seeding the demo: Simulated providers are off (DEMO_PROVIDERS=false)" in out
    assert "Demo logins (password “gatehouse-demo”)" in out
    assert authenticate(username="demo-engineer", password="gatehouse-demo") is not None
    run()  # safe to run again
    assert get_user_model().objects.filter(username__startswith="demo-").count() == 4
    assert not Batch.objects.exclude(state=BatchState.PLANNED).exists()


def test_with_a_real_token_nothing_is_simulated_or_seeded(db, settings):
    settings.GITHUB_TOKEN = "ghp-real"
    out, _ = run()
    assert "Not seeding the demo: Real providers: GITHUB_TOKEN set, so nothing is simulated." in out
    assert not Batch.objects.exclude(state=BatchState.PLANNED).exists()
    assert not (settings.VAR_DIR / WORLD_FILE).exists()


def test_refuses_in_production(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only runs with DEBUG on"):
        run()
    assert not get_user_model().objects.exists()


def test_a_plan_the_seeding_cannot_use_is_left_as_imported(db, settings, tmp_path):
    plan_file = tmp_path / "one-batch.md"
    plan_file.write_text(
        "# One batch\n\n## Batch 1 – Only (Target: 1 PRs)\n- **Goals**\n  - Ship.\n- **Key Tasks**\n"
        "  - Do it (PR #1).\n- **Readiness Gates**\n  - CI: `pytest`.\n"
    )
    out, err = StringIO(), StringIO()
    call_command("setup_demo", "--plan", str(plan_file), stdout=out, stderr=err)
    assert "could only be seeded part of the way: The demo needs a plan with at least two batches." in err.getvalue()
    assert "Demo logins" in out.getvalue()
    assert running_simulator() is None


def _snapshot() -> dict:
    return {
        "batches": list(Batch.objects.order_by("number").values_list("number", "state", "approved_at")),
        "gates": list(
            Batch.objects.order_by("number", "gates__position").values_list(
                "gates__key", "gates__state", "gates__detail", "gates__waived_at"
            )
        ),
        "events": GateEvent.objects.count(),
        "signoffs": SignOff.objects.count(),
        "evidence": Evidence.objects.count(),
        "deliveries": WebhookDelivery.objects.count(),
    }


# Seeding runs outside any transaction, as `make run` does: the webhook view's sync runs on commit.
@pytest.mark.django_db(transaction=True)
def test_seeds_the_plan_mid_flight_through_the_products_own_actions_once(settings):
    out, err = run()
    assert err == ""
    assert "Seeded Batch 1: approved" in out
    assert "Seeded Batch 2: in progress" in out
    batches = {b.number: b for b in Batch.objects.filter(plan__slug=SLUG)}
    assert {n: b.state for n, b in batches.items()} == {
        1: BatchState.APPROVED,
        2: BatchState.IN_PROGRESS,
        3: BatchState.PLANNED,
        4: BatchState.PLANNED,
    }

    # Batch 1: approved by the release manager, the checklist ticked by the engineer with the
    # ops screenshot, and the Sentry gate waived (with its reason) while Sentry was down.
    one = batches[1]
    assert one.approved_by.username == "demo-release-manager"
    tick = SignOff.objects.get(item__gate__batch=one, action=SignOff.Action.TICK)
    assert tick.user.username == "demo-engineer"
    evidence = Evidence.objects.get(item__gate__batch=one)
    assert (evidence.uploaded_by.username, evidence.format) == ("demo-ops", Evidence.Format.PNG)
    sentry = one.gates.get(kind=GateKind.OBSERVABILITY)
    assert (sentry.state, sentry.status) == (GateState.STALE, GateState.WAIVED)
    assert "Sentry's API is down" in sentry.waiver_reason
    assert all(g.state == GateState.PASSING for g in one.gates.exclude(kind=GateKind.OBSERVABILITY))
    # Its approval computed its metrics from the simulated providers: Sentry was down, so no escapes.
    metrics = BatchMetrics.objects.get(batch=one)
    assert [p["number"] for p in metrics.prs] == [1, 2]
    assert all(p["cycle_seconds"] is not None for p in metrics.prs)
    assert metrics.deployed_at is not None
    assert metrics.lead_time_seconds is not None
    assert (metrics.escaped_defects, metrics.stale) == (None, True)
    assert any(note.startswith("Sentry could not be read") for note in metrics.notes)

    # Batch 2: every state a newcomer should see, each reached by an evaluation of what the providers said.
    two = {g.kind: g for g in batches[2].gates.all()}
    assert two[GateKind.CI].state == GateState.PASSING
    assert two[GateKind.DEPLOY].state == GateState.PENDING  # main is live, but without PRs #4 and #5 yet
    assert two[GateKind.DEPLOY].detail.startswith("Waiting for planned PR #4, #5 to merge and deploy.")
    assert two[GateKind.AI_REVIEW].state == GateState.FAILING
    # The reviewer's failing check and its "changes requested" review carry whole-second times: whichever
    # is newer speaks for the PR (both say the same thing).
    detail = two[GateKind.AI_REVIEW].detail
    assert "PR #5: claude-review failure" in detail or "PR #5: claude[bot] requested changes" in detail
    assert two[GateKind.OBSERVABILITY].state == GateState.STALE
    assert two[GateKind.DOCS].state == GateState.PENDING
    assert two[GateKind.MANUAL].state == GateState.PENDING
    for kind in (GateKind.CI, GateKind.AI_REVIEW, GateKind.OBSERVABILITY):
        last = GateEvent.objects.filter(gate=two[kind], action=GateEventAction.STATE_CHANGED).last()
        assert last.state == two[kind].state
    assert WebhookDelivery.objects.filter(event="pull_request_review").exists()
    assert batches[2].prs.get(number=5).github_url == "https://github.com/demo-org/paiid/pull/105"

    # The simulated world is saved for runportal, and nothing keeps running.
    world = json.loads((settings.VAR_DIR / WORLD_FILE).read_text())
    assert world["outages"] == ["sentry"]
    assert running_simulator() is None

    before = _snapshot()
    world_before = (settings.VAR_DIR / WORLD_FILE).read_text()
    out, _ = run()
    assert "The demo plan is under way already; leaving it as it is." in out
    assert "Demo logins" in out
    assert _snapshot() == before
    assert (settings.VAR_DIR / WORLD_FILE).read_text() == world_before
