"""Plan settings: the gates they require of every batch (plan_configure) (the page: tests/pages/test_plans.py)."""

from __future__ import annotations

import pytest

from batches.models import BatchEvent, BatchEventAction, Gate, GateKind, GateOrigin
from batches.plan_settings import implicit_gates_sync, plan_configure

pytestmark = pytest.mark.django_db


def kinds(batch) -> set[str]:
    return set(batch.gates.values_list("kind", flat=True))


def test_configuring_render_adds_a_deploy_gate_to_every_open_batch_but_not_approved_ones(journey):
    approved = journey.approve(journey.batch(1))
    changes = plan_configure(plan=journey.plan, by=journey.release_manager, values={"render_service_ids": ["srv-x"]})
    assert changes == [f"Batch {n}: added “Render deploy of the batch is live”." for n in (2, 3, 4)]
    assert GateKind.DEPLOY not in kinds(approved)
    gate = journey.batch(2).gates.get(kind=GateKind.DEPLOY)
    assert (gate.origin, gate.key, gate.state) == (GateOrigin.SETTINGS, "deploy-auto", "needs_config")
    event = BatchEvent.objects.get(batch=journey.batch(2))
    assert (event.action, event.by, event.detail) == (
        BatchEventAction.GATE_ADDED,
        journey.release_manager,
        "Render deploy of the batch is live",
    )
    assert implicit_gates_sync(plan=journey.plan) == []  # nothing left to do


def test_automatic_follows_the_configuration_and_explicit_choices_win(journey):
    plan, rm = journey.plan, journey.release_manager
    plan_configure(plan=plan, by=rm, values={"sentry_organization": "acme", "sentry_project": "api"})
    assert GateKind.OBSERVABILITY in kinds(journey.batch(3))
    plan_configure(plan=plan, by=rm, values={"observability_gate_every_batch": False})
    assert GateKind.OBSERVABILITY not in kinds(journey.batch(3))
    assert BatchEvent.objects.filter(action=BatchEventAction.GATE_REMOVED).count() == 4
    plan_configure(plan=plan, by=rm, values={"deploy_gate_every_batch": True})  # no Render yet: needs config
    deploy = journey.batch(3).gates.get(kind=GateKind.DEPLOY)
    assert deploy.state == "needs_config"


def test_a_deploy_gate_the_plan_names_is_not_doubled(sample_plan_source, db, release_manager):
    from batches.plan_import import plan_import

    source = sample_plan_source.replace(
        b"  - CI: `pytest backend/tests/test_options_endpoint.py`.",
        b"  - CI: `pytest backend/tests/test_options_endpoint.py`.\n  - Deploy: staging deploy is live.",
    )
    plan = plan_import(source=source, slug="with-deploy").plan
    plan_configure(plan=plan, by=release_manager, values={"render_service_ids": ["srv-x"]})
    batch1 = plan.batches.get(number=1)
    assert list(batch1.gates.filter(kind=GateKind.DEPLOY).values_list("origin", "label")) == [
        (GateOrigin.PLAN, "staging deploy is live")
    ]
    assert plan.batches.get(number=2).gates.get(kind=GateKind.DEPLOY).origin == GateOrigin.SETTINGS


def test_reimport_keeps_the_settings_gates(journey, sample_plan_source):
    from batches.plan_import import plan_import

    plan_configure(plan=journey.plan, by=journey.release_manager, values={"render_service_ids": ["srv-x"]})
    before = set(Gate.objects.filter(origin=GateOrigin.SETTINGS).values_list("pk", flat=True))
    plan_import(source=sample_plan_source, slug=journey.plan.slug)
    assert set(Gate.objects.filter(origin=GateOrigin.SETTINGS).values_list("pk", flat=True)) == before


def test_the_query_count_does_not_grow_with_the_plan(db, release_manager, django_assert_max_num_queries):
    from tests.batches.conftest import build_plan

    small = build_plan(slug="few", batches=3, prs_per_batch=1)
    big = build_plan(slug="many", batches=40, prs_per_batch=1)
    with django_assert_max_num_queries(8):
        plan_configure(plan=small, by=release_manager, values={"render_service_ids": ["srv-x"]})
    with django_assert_max_num_queries(8):
        plan_configure(plan=big, by=release_manager, values={"render_service_ids": ["srv-x"]})


# -- the settings page -------------------------------------------------------------------
