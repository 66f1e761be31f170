"""Whether the simulated providers run, and what running them does to the process's settings."""

from __future__ import annotations

import fnmatch

import pytest
from django.conf import settings as django_settings

from batches.models import GateKind, GateState
from demo.simulator import (
    REPOSITORY,
    changed_files,
    concrete_check_name,
    demo_providers_decision,
    demo_world,
    running_simulator,
    simulated_providers,
)
from providers.fake import WorldError

NO_TOKENS = {"GITHUB_TOKEN": None, "RENDER_API_KEY": None, "SENTRY_AUTH_TOKEN": ""}


def decide(*, debug=True, forced=None, tokens=None, tasks_in_process=True):
    return demo_providers_decision(
        debug=debug, forced=forced, tokens=tokens or NO_TOKENS, tasks_in_process=tasks_in_process
    )


def test_simulated_when_no_provider_token_is_set():
    decision = decide()
    assert decision.on
    assert "set GITHUB_TOKEN, RENDER_API_KEY and SENTRY_AUTH_TOKEN" in decision.reason


@pytest.mark.parametrize("token", ["GITHUB_TOKEN", "RENDER_API_KEY", "SENTRY_AUTH_TOKEN"])
def test_any_real_token_turns_the_simulation_off(token):
    decision = decide(tokens={**NO_TOKENS, token: "real"})
    assert not decision.on
    assert decision.reason == f"Real providers: {token} set, so nothing is simulated."


def test_demo_providers_forces_it_either_way():
    assert not decide(forced=False).on
    forced = decide(forced=True, tokens={**NO_TOKENS, "GITHUB_TOKEN": "real"})
    assert forced.on
    assert "GITHUB_TOKEN ignored in this process" in forced.reason


@pytest.mark.parametrize("forced", [None, True])
def test_never_in_production_nor_with_tasks_on_a_worker(forced):
    assert decide(debug=False, forced=forced).reason == "Simulated providers never run with DEBUG off."
    on_worker = decide(tasks_in_process=False, forced=forced)
    assert not on_worker.on
    assert "cannot reach them" in on_worker.reason


@pytest.mark.parametrize("pattern", ["smoke-tests", "ci/*", "test-?", "build [ab]", "ci/[!x]*"])
def test_a_concrete_check_name_matches_the_gates_pattern(pattern):
    assert fnmatch.fnmatchcase(concrete_check_name(pattern), pattern)


def test_running_the_simulation_points_the_settings_at_it_and_restores_them(settings, tmp_path):
    settings.GITHUB_API_URL = "https://api.github.com"
    settings.GITHUB_TOKEN = None
    settings.GITHUB_WEBHOOK_SECRET = None
    with simulated_providers(demo_world(tmp_path / "w.json")) as simulator:
        assert running_simulator() is simulator
        assert django_settings.GITHUB_API_URL == f"{simulator.url}/github"
        assert django_settings.RENDER_API_URL == f"{simulator.url}/render/v1"
        assert django_settings.SENTRY_URL == f"{simulator.url}/sentry"
        assert django_settings.GITHUB_TOKEN
        assert django_settings.RENDER_API_KEY
        assert django_settings.SENTRY_AUTH_TOKEN
        assert len(django_settings.GITHUB_WEBHOOK_SECRET) >= 40
        with pytest.raises(RuntimeError, match="running already"):
            with simulated_providers(demo_world(tmp_path / "other.json")):
                pass
    assert running_simulator() is None
    assert (django_settings.GITHUB_API_URL, django_settings.GITHUB_TOKEN) == ("https://api.github.com", None)
    assert django_settings.GITHUB_WEBHOOK_SECRET is None


def test_a_restart_serves_the_same_world_at_the_same_address_when_it_is_free(tmp_path, monkeypatch):
    import socket

    from demo import simulator as module

    asked = []
    real = module.FakeProviders

    def recording(*, world, port):
        asked.append(port)
        return real(world=world, port=port)

    monkeypatch.setattr(module, "FakeProviders", recording)
    with simulated_providers(demo_world(tmp_path / "w.json")) as first:
        first.world.merge(REPOSITORY, 7, files=["README.md"])
        port = first.server.port
    before = len(asked)
    with simulated_providers(demo_world(tmp_path / "w.json")) as second:
        # First try the old port (should another process have taken it meanwhile, a new one is used).
        assert asked[before] == port
        assert second.world.pull(REPOSITORY, 7).is_merged
    # The old port is busy: the simulation still starts, on another one, and remembers that.
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        world = demo_world(tmp_path / "w.json")
        world.remember_port(busy.getsockname()[1])
        with simulated_providers(world) as third:
            assert third.server.port != busy.getsockname()[1]
            assert demo_world(tmp_path / "w.json").state.port == third.server.port
    with simulated_providers(demo_world(tmp_path / "w.json", fresh=True)) as fresh:
        assert not fresh.world.pull(REPOSITORY, 7).is_merged


def test_a_broken_world_file_is_reported(tmp_path):
    (tmp_path / "w.json").write_text("{")
    with pytest.raises(WorldError, match="delete it"):
        demo_world(tmp_path / "w.json")


def test_a_merge_changes_the_files_the_plan_names(demo_plan):
    pr1, pr2 = demo_plan.batches.get(number=1).prs.order_by("number")
    assert changed_files(pr2) == ["backend/tests/test_options_endpoint.py"]
    assert changed_files(pr1) == ["src/pr_1.py"]  # the plan names no file for PR #1


# The webhook view queues its sync on commit: these run outside a test transaction, as in production.
@pytest.mark.django_db(transaction=True)
def test_ci_results_reach_the_gate_as_signed_webhooks(demo_plan, simulator):
    batch = demo_plan.batches.get(number=1)
    simulator.pr_check(REPOSITORY, 101, name="pytest", passed=True)
    assert batch.gates.get(kind=GateKind.CI).state == GateState.PENDING  # PR #102 has not reported yet
    simulator.pr_check(REPOSITORY, 102, name="pytest", passed=False)
    ci = batch.gates.get(kind=GateKind.CI)
    assert ci.state == GateState.FAILING
    assert "PR #2: pytest failure" in ci.detail
    from batches.models import WebhookDelivery

    assert WebhookDelivery.objects.filter(event="check_run").count() == 2


def test_render_and_sentry_changes_are_read_by_a_sync(demo_plan, simulator):
    batch = demo_plan.batches.get(number=1)
    for number in (101, 102):  # only a deploy after the batch's PRs merged counts
        simulator.pr_merge(REPOSITORY, number, files=[])
    text = simulator.render_deploy("srv-paiid-backend", live=False)
    assert text.startswith("Render deploy of srv-paiid-backend at ")
    assert "failed to build; synced: " in text
    assert batch.gates.get(kind=GateKind.DEPLOY).state == GateState.FAILING
    simulator.outage("sentry", down=True)
    simulator.render_deploy("srv-paiid-backend", live=True)
    assert batch.gates.get(kind=GateKind.OBSERVABILITY).state == GateState.STALE
    assert "back up" in simulator.outage("sentry", down=False)
    assert batch.gates.get(kind=GateKind.OBSERVABILITY).state == GateState.PASSING
    simulator.sentry_raise("demo-org", "paiid-backend", title="Boom")
    assert batch.gates.get(kind=GateKind.OBSERVABILITY).state == GateState.FAILING
    assert simulator.sentry_resolve("demo-org", "paiid-backend").startswith("Resolved 1 Sentry issue;")
    assert batch.gates.get(kind=GateKind.OBSERVABILITY).state == GateState.PASSING


@pytest.mark.django_db(transaction=True)
def test_a_commit_status_context_is_reported_as_a_status(demo_plan, simulator):
    head = simulator.world.pull(REPOSITORY, 101).head_sha
    simulator.pr_check(REPOSITORY, 101, name="ci/unit", passed=True)
    assert [(s.context, s.state) for s in simulator.world.statuses(REPOSITORY, head)] == [("ci/unit", "success")]
    from batches.models import WebhookDelivery

    assert WebhookDelivery.objects.filter(event="status").exists()
