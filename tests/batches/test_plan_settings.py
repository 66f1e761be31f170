"""Plan settings: the gates they require of every batch (plan_configure) and the settings page."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from batches.models import BatchEvent, BatchEventAction, Gate, GateKind, GateOrigin
from batches.plan_settings import implicit_gates_sync, plan_configure
from tests.factories import PASSWORD

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


def url(plan):
    return reverse("pages:plan-settings", kwargs={"slug": plan.slug})


def login(client, user):
    client.login(username=user.username, password=PASSWORD)
    return client


def form(plan, **changes):
    data = {
        "github_repository": "acme/shop",
        "ai_reviewer_check_name": "claude-review",
        "ai_reviewer_bot_login": "claude[bot]",
        "ai_review_timeout_minutes": "60",
        "render_service_ids": "srv-abc123",
        "sentry_organization": "acme",
        "sentry_project": "api",
        "sentry_environment": "production",
        "deploy_gate_every_batch": "auto",
        "observability_gate_every_batch": "off",
    }
    data.update(changes)
    return data


def test_release_manager_saves_settings_and_check_names(client, sample_plan, release_manager):
    ci = Gate.objects.get(batch__plan=sample_plan, batch__number=1, kind=GateKind.CI)
    page = login(client, release_manager).get(url(sample_plan))
    assert page.status_code == 200
    assert f'name="check-{ci.pk}"' in page.content.decode()
    response = client.post(url(sample_plan), form(sample_plan, **{f"check-{ci.pk}": "backend-tests"}))
    assert response.status_code == 302
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages[0].startswith("Saved the plan settings. 1 CI check name changed. Batch 1: added “Render deploy")
    sample_plan.refresh_from_db()
    ci.refresh_from_db()
    assert (sample_plan.github_repository, sample_plan.render_service_ids) == ("acme/shop", ["srv-abc123"])
    assert sample_plan.observability_gate_every_batch is False
    assert sample_plan.deploy_gate_every_batch is None
    assert ci.check_name == "backend-tests"
    assert not Gate.objects.filter(batch__plan=sample_plan, kind=GateKind.OBSERVABILITY).exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"github_repository": "not a repo"}, "Write the repository as owner/name"),
        ({"render_service_ids": "srv-1, bad id!"}, "is not a Render service id"),
        ({"sentry_project": ""}, "Set both the Sentry organisation and the project"),
        ({"ai_review_timeout_minutes": "0"}, "greater than or equal to 1"),
    ],
)
def test_bad_input_is_explained_and_nothing_is_saved(client, sample_plan, release_manager, changes, message):
    response = login(client, release_manager).post(url(sample_plan), form(sample_plan, **changes))
    assert response.status_code == 422
    assert message in response.content.decode()
    sample_plan.refresh_from_db()
    assert sample_plan.github_repository == ""
    assert not Gate.objects.filter(batch__plan=sample_plan, kind=GateKind.DEPLOY).exists()


def test_a_github_url_is_accepted_as_the_repository(client, sample_plan, release_manager):
    login(client, release_manager).post(
        url(sample_plan), form(sample_plan, github_repository="https://github.com/acme/shop")
    )
    sample_plan.refresh_from_db()
    assert sample_plan.github_repository == "acme/shop"


@pytest.mark.parametrize("persona", ["engineer", "ops", "stakeholder", "outsider"])
def test_only_release_managers_see_or_change_settings(client, sample_plan, request, persona):
    login(client, request.getfixturevalue(persona))
    assert client.get(url(sample_plan)).status_code == 403
    assert client.post(url(sample_plan), form(sample_plan)).status_code == 403
    sample_plan.refresh_from_db()
    assert sample_plan.github_repository == ""


def test_anonymous_is_sent_to_login_and_other_methods_are_refused(client, sample_plan, release_manager):
    response = client.get(url(sample_plan))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert login(client, release_manager).put(url(sample_plan)).status_code == 405


def test_csrf_is_enforced(sample_plan, release_manager):
    from django.test import Client

    client = login(Client(enforce_csrf_checks=True), release_manager)
    assert client.post(url(sample_plan), form(sample_plan)).status_code == 403


def test_the_plan_page_links_settings_for_release_managers_only(client, sample_plan, release_manager, stakeholder):
    assert url(sample_plan) in login(client, release_manager).get(sample_plan.get_absolute_url()).content.decode()
    client.logout()
    assert url(sample_plan) not in login(client, stakeholder).get(sample_plan.get_absolute_url()).content.decode()
