"""The simulator page (/demo/providers/): who may see it, who may change the simulation, and what a change does."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from batches.models import GateKind, GateState, PlannedPR, WebhookDelivery
from demo.simulator import REPOSITORY, demo_world, simulated_providers

PAGE = "/demo/providers/"
ACT = "/demo/providers/act/"


def client_for(user=None, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    if user is not None:
        client.force_login(user)
    return client


def pr(plan, number: int) -> PlannedPR:
    return PlannedPR.objects.get(batch__plan=plan, number=number)


def test_urls():
    assert reverse("demo:providers") == PAGE
    assert reverse("demo:providers-act") == ACT


# -- who may see and change it ---------------------------------------------------------


@pytest.mark.parametrize("persona", ["stakeholder", "engineer", "ops", "release_manager"])
def test_there_is_no_page_while_nothing_is_simulated(request, persona, db):
    user = request.getfixturevalue(persona)
    assert client_for(user).get(PAGE).status_code == 404
    assert client_for(user).post(ACT, {"action": "outage-on", "provider": "sentry"}).status_code in (403, 404)


@pytest.mark.parametrize("persona", ["stakeholder", "engineer", "ops"])
def test_every_role_may_watch_but_only_release_managers_see_the_controls(request, persona, demo_plan):
    watcher = client_for(request.getfixturevalue(persona)).get(PAGE)
    assert watcher.status_code == 200
    assert "You can watch; only release managers change the simulation." in watcher.content.decode()
    assert "CI passes" not in watcher.content.decode()
    manager = client_for(request.getfixturevalue("release_manager")).get(PAGE).content.decode()
    assert "CI passes" in manager
    assert "Deploy main: live" in manager
    assert "Start an outage" in manager


def test_the_page_shows_the_simulated_pull_requests_and_what_to_paste_next(demo_plan, release_manager, simulator):
    page = client_for(release_manager).get(PAGE).content.decode()
    assert f"{REPOSITORY}#101" in page
    assert f"{REPOSITORY}#102" in page
    assert simulator.url in page
    assert "set <code>GITHUB_TOKEN</code>" in page


def test_the_banner_links_the_page_on_every_page_while_simulating(demo_plan, stakeholder):
    home = client_for(stakeholder).get("/").content.decode()
    assert 'href="/demo/providers/"' in home


def test_no_banner_without_the_simulation(sample_plan, stakeholder):
    assert "/demo/providers/" not in client_for(stakeholder).get("/").content.decode()


def test_the_page_costs_a_fixed_number_of_queries(demo_plan, release_manager, django_assert_max_num_queries):
    client = client_for(release_manager)
    client.get(PAGE)
    with django_assert_max_num_queries(8):
        assert client.get(PAGE).status_code == 200


def test_outsiders_and_strangers_are_kept_out(demo_plan, outsider):
    assert client_for(outsider).get(PAGE).status_code == 403
    anonymous = client_for().get(PAGE)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/")
    assert client_for().post(ACT, {"action": "outage-on", "provider": "sentry"}).status_code == 302


@pytest.mark.parametrize("persona", ["stakeholder", "engineer", "ops", "outsider"])
def test_only_release_managers_change_the_simulation(request, persona, demo_plan, simulator):
    response = client_for(request.getfixturevalue(persona)).post(ACT, {"action": "outage-on", "provider": "sentry"})
    assert response.status_code == 403
    assert "Only release managers can change the demo&#x27;s simulated providers." in response.content.decode()
    assert not simulator.world.is_down("sentry")


def test_wrong_methods_are_refused(demo_plan, release_manager):
    client = client_for(release_manager)
    assert client.post(PAGE).status_code == 405
    assert client.get(ACT).status_code == 405


def test_a_change_needs_the_csrf_token(demo_plan, release_manager, simulator):
    response = client_for(release_manager, csrf=True).post(ACT, {"action": "outage-on", "provider": "sentry"})
    assert response.status_code == 403
    assert not simulator.world.is_down("sentry")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "nap"}, "Unknown action."),
        ({"action": "merge", "pr": "x"}, "Choose a pull request."),
        ({"action": "deploy-live", "service": "srv-nope"}, "Choose one of the simulated Render services."),
        ({"action": "outage-on", "provider": "jira"}, "Choose GitHub, Render or Sentry."),
        ({"action": "sentry-raise", "organization": "demo-org", "project": "x"}, "Choose one of the simulated"),
    ],
)
def test_bad_input_says_why_and_changes_nothing(demo_plan, release_manager, simulator, data, message):
    before = simulator.world.path.read_text()
    response = client_for(release_manager).post(ACT, data, follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    assert message in response.content.decode()
    assert simulator.world.path.read_text() == before


def test_a_pr_of_a_batch_not_in_progress_cannot_be_driven(demo_plan, release_manager, simulator):
    planned = pr(demo_plan, 3)  # batch 2 has not started, and the PR is not linked
    response = client_for(release_manager).post(ACT, {"action": "merge", "pr": planned.pk}, follow=True)
    assert "not linked in an active batch" in response.content.decode()


# -- what a change does -------------------------------------------------------------------
# The webhook view queues its sync on commit, so these run outside a test transaction.


@pytest.mark.django_db(transaction=True)
def test_ci_fails_then_passes_through_signed_webhooks(demo_plan, release_manager):
    client = client_for(release_manager)
    ci = lambda: demo_plan.batches.get(number=1).gates.get(kind=GateKind.CI)  # noqa: E731
    response = client.post(ACT, {"action": "ci-fail", "pr": pr(demo_plan, 1).pk}, follow=True)
    assert f"pytest failed on {REPOSITORY}#101." in response.content.decode()
    assert ci().state == GateState.FAILING
    client.post(ACT, {"action": "ci-pass", "pr": pr(demo_plan, 1).pk})
    client.post(ACT, {"action": "ci-pass", "pr": pr(demo_plan, 2).pk})
    assert ci().state == GateState.PASSING
    assert WebhookDelivery.objects.filter(event="check_run").count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_ai_reviewer_and_a_merge_move_their_gates(demo_plan, release_manager, simulator):
    client = client_for(release_manager)
    batch = demo_plan.batches.get(number=1)
    response = client.post(ACT, {"action": "ai-changes", "pr": pr(demo_plan, 2).pk}, follow=True)
    assert f"claude[bot] requested changes on {REPOSITORY}#102." in response.content.decode()
    assert batch.gates.get(kind=GateKind.AI_REVIEW).state == GateState.FAILING
    for number in (1, 2):
        client.post(ACT, {"action": "ai-approve", "pr": pr(demo_plan, number).pk})
    assert batch.gates.get(kind=GateKind.AI_REVIEW).state == GateState.PASSING

    response = client.post(ACT, {"action": "merge", "pr": pr(demo_plan, 2).pk}, follow=True)
    assert f"{REPOSITORY}#102 is merged into main" in response.content.decode()
    linked = pr(demo_plan, 2)
    assert linked.is_merged
    assert linked.changed_files == ["backend/tests/test_options_endpoint.py"]
    again = client.post(ACT, {"action": "merge", "pr": linked.pk}, follow=True)
    assert f"{REPOSITORY}#102 is merged already." in again.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_sentry_outage_makes_the_gate_stale_until_it_ends(demo_plan, simulator, release_manager):
    client = client_for(release_manager)
    for number in (101, 102):  # only a deploy after the batch's PRs merged counts
        simulator.pr_merge(REPOSITORY, number, files=[])
    sentry = lambda: demo_plan.batches.get(number=1).gates.get(kind=GateKind.OBSERVABILITY)  # noqa: E731
    client.post(ACT, {"action": "deploy-live", "service": "srv-paiid-backend"})
    assert sentry().state == GateState.PASSING
    response = client.post(ACT, {"action": "outage-on", "provider": "sentry"}, follow=True)
    assert "The simulated Sentry is down (it answers 503); synced: 1 gate change." in response.content.decode()
    assert sentry().state == GateState.STALE
    client.post(ACT, {"action": "outage-off", "provider": "sentry"})
    assert sentry().state == GateState.PASSING


@pytest.mark.django_db(transaction=True)
def test_over_http_the_webhook_reaches_the_portal_like_githubs(live_server, sample_plan, release_manager, tmp_path):
    from batches.pr_linking import planned_pr_link
    from demo.seed import plan_configure_for_demo

    webhook_url = f"{live_server.url}/webhooks/github/"
    with simulated_providers(demo_world(tmp_path / "w.json"), webhook_url=webhook_url):
        plan_configure_for_demo(sample_plan, by=release_manager)
        batch = sample_plan.batches.get(number=1)
        batch.start(by=release_manager)
        for number in (1, 2):
            planned_pr_link(pr=pr(sample_plan, number), url=f"https://github.com/{REPOSITORY}/pull/{100 + number}")
        response = client_for(release_manager).post(ACT, {"action": "ci-fail", "pr": pr(sample_plan, 1).pk})
        assert response.status_code == 302
    assert WebhookDelivery.objects.filter(event="check_run").count() == 1
    assert "PR #1: pytest failure" in batch.gates.get(kind=GateKind.CI).detail
