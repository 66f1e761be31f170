"""batches.critical_paths: the plan's AI-assisted review principle as path globs, and the gate it adds.

Every gate here appears (or not) through the product's own actions: the plan
settings saved, a PR linked by its URL and read from the fake GitHub on
loopback (its "list pull request files" answer), a push, a re-sync.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from batches.critical_paths import (
    CRITICAL_GATE_KEY,
    CriticalPathError,
    clean_globs,
    critical_path_gates_sync,
    path_matches,
)
from batches.models import BatchEventAction, GateKind, GateOrigin, GateState
from batches.plan_format import parse_plan
from batches.plan_settings import plan_configure
from batches.pr_linking import planned_pr_link
from batches.sync import batch_sync
from tests.journey import AI_CHECK, REPO, github_number, head_sha

pytestmark = pytest.mark.django_db

GLOBS = ["backend/app/routers/**", "render.yaml", "**/auth/**"]


@pytest.mark.parametrize(
    ("path", "glob"),
    [
        ("backend/app/routers/x.py", "backend/app/routers/**"),
        ("backend/app/routers/v2/options.py", "backend/app/routers/**"),
        ("render.yaml", "render.yaml"),
        ("auth/session.py", "**/auth/**"),
        ("frontend/lib/auth/token.ts", "**/auth/**"),
        ("/backend/app/routers/x.py", "backend/app/routers/**"),
    ],
)
def test_paths_under_a_critical_glob_match_it(path, glob):
    assert path_matches(path, GLOBS) == glob


@pytest.mark.parametrize(
    "path", ["docs/routers.md", "backend/app/routers.py", "deploy/render.yaml", "backend/authz/x.py", "README.md"]
)
def test_other_paths_do_not_match(path):
    assert path_matches(path, GLOBS) is None


def test_typed_globs_are_cleaned_and_a_bad_one_is_named():
    assert clean_globs([" backend/app/routers/** ", "", "render.yaml, **/auth/**", "render.yaml"]) == GLOBS
    with pytest.raises(CriticalPathError, match="“backend routing” is not a path glob"):
        clean_globs(["backend routing"])


def test_the_ai_review_principle_gives_the_paths_it_names():
    plan = parse_plan(
        "# Plan\n\n## Guiding Principles\n"
        "1. **Stability First** – Fix `backend/app/main.py` first.\n"
        "2. **AI-Assisted Review** – Require Claude on every PR touching critical paths "
        "(`backend/app/routers/**`, `render.yaml`, `**/auth/**`).\n\n"
        "## Batch 1 – One (Target: 1 PRs)\n- **Key Tasks**\n  - Do it (PR #1).\n"
        "- **Readiness Gates**\n  - CI: `pytest`.\n"
    )
    assert plan.critical_paths == GLOBS


def test_the_sample_plan_names_no_paths(sample_plan):
    # "backend routing, deployment automation, authentication" are areas, not paths:
    # the release managers write the globs on the settings page.
    assert sample_plan.critical_paths == []


def test_a_re_import_naming_no_paths_keeps_the_release_managers_globs(sample_plan, sample_plan_source, release_manager):
    from batches.plan_import import plan_import

    plan_configure(plan=sample_plan, by=release_manager, values={"critical_paths": GLOBS})
    plan_import(source=sample_plan_source, slug=sample_plan.slug, source_name="plan.md", by=release_manager)
    sample_plan.refresh_from_db()
    assert sample_plan.critical_paths == GLOBS


# -- the gate, through linking and sync ------------------------------------------------


@pytest.fixture
def critical_journey(journey, release_manager):
    plan_configure(plan=journey.plan, by=release_manager, values={"critical_paths": GLOBS})
    journey.plan.refresh_from_db()
    return journey


def _just_now() -> str:
    # A head commit younger than the plan's AI-review timeout: the review is awaited, not overdue.
    return timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")


def _link(journey, batch, pr_number: int, files: list[str], *, push: int = 0) -> None:
    """PR ``pr_number`` is open on the fake GitHub with ``files``; a release manager links it (which syncs it)."""
    pr = batch.prs.get(number=pr_number)
    journey.fake.github_pr(
        REPO, github_number(pr), head_sha=head_sha(pr_number, push), files=files, committed_at=_just_now()
    )
    planned_pr_link(pr=pr, url=f"https://github.com/{REPO}/pull/{github_number(pr)}")
    batch_sync(batch=batch, pr_ids=[pr.pk])  # what linking queues


def _critical_gate(batch):
    return batch.gates.filter(origin=GateOrigin.CRITICAL_PATH).first()


def test_a_pr_touching_a_router_gains_an_ai_review_gate(critical_journey):
    # Batch 2's plan asks for an AI review of PRs #3 and #5 only; PR #4 changes a router.
    batch = critical_journey.batch(2)
    _link(critical_journey, batch, 4, ["DEPLOYMENT_STATUS.md", "backend/app/routers/x.py"])

    gate = _critical_gate(batch)
    assert gate is not None
    assert (gate.kind, gate.key) == (GateKind.AI_REVIEW, CRITICAL_GATE_KEY)
    assert [pr.number for pr in gate.prs.all()] == [4]
    # Evaluated in the same pass: the fake GitHub has no AI review on PR #4 yet.
    assert gate.state == GateState.PENDING
    assert "PR #4: waiting for the AI review" in gate.detail
    event = batch.events.get(action=BatchEventAction.CRITICAL_GATE_ADDED)
    assert "PR #4 changes backend/app/routers/x.py (backend/app/routers/**)" in event.detail
    # The files were read from the "list pull request files" endpoint.
    assert critical_journey.fake.requests_to(f"/github/repos/{REPO}/pulls/{github_number(gate.prs.get())}/files")


def test_a_pr_touching_only_docs_gains_no_gate(critical_journey):
    batch = critical_journey.batch(2)
    _link(critical_journey, batch, 4, ["docs/runbook.md", "DEPLOYMENT_STATUS.md"])
    assert _critical_gate(batch) is None
    assert not batch.events.filter(action=BatchEventAction.CRITICAL_GATE_ADDED).exists()


def test_a_pr_the_plans_own_ai_review_covers_gets_no_second_gate(critical_journey):
    batch = critical_journey.batch(2)
    _link(critical_journey, batch, 3, ["backend/app/routers/x.py"])  # the plan names PR #3's review
    assert _critical_gate(batch) is None


def test_the_gate_passes_on_the_ai_reviewers_verdict(critical_journey):
    batch = critical_journey.batch(2)
    _link(critical_journey, batch, 4, ["backend/app/routers/x.py"])
    pr = batch.prs.get(number=4)
    critical_journey.fake.github_checks(
        REPO, head_sha(4), [{"name": AI_CHECK, "status": "completed", "conclusion": "success"}]
    )
    batch_sync(batch=batch)
    assert _critical_gate(batch).state == GateState.PASSING
    assert pr.pk in {p.pk for p in _critical_gate(batch).prs.all()}


def test_a_push_that_touches_a_router_adds_the_gate_on_the_next_sync(critical_journey):
    batch = critical_journey.batch(2)
    _link(critical_journey, batch, 4, ["docs/runbook.md"])
    assert _critical_gate(batch) is None
    pr = batch.prs.get(number=4)
    critical_journey.fake.github_pr(
        REPO,
        github_number(pr),
        head_sha=head_sha(4, push=1),
        files=["docs/runbook.md", "api/auth/login.py"],
        committed_at=_just_now(),
    )
    batch_sync(batch=batch)
    assert [p.number for p in _critical_gate(batch).prs.all()] == [4]


def test_an_idle_sync_does_not_ask_for_the_files_again(critical_journey):
    batch = critical_journey.batch(2)
    _link(critical_journey, batch, 4, ["backend/app/routers/x.py"])
    pr = batch.prs.get(number=4)
    files = f"/github/repos/{REPO}/pulls/{github_number(pr)}/files"
    before = len(critical_journey.fake.requests_to(files))
    batch_sync(batch=batch)
    assert len(critical_journey.fake.requests_to(files)) == before


def test_a_gate_without_history_goes_when_no_pr_touches_a_critical_path(critical_journey, release_manager):
    batch = critical_journey.batch(2)
    _link(critical_journey, batch, 4, ["backend/app/routers/x.py"])
    gate = _critical_gate(batch)
    assert not gate.events.exists()  # pending from the start: no state change yet
    changes = plan_configure(plan=critical_journey.plan, by=release_manager, values={"critical_paths": ["infra/**"]})
    assert _critical_gate(batch) is None
    assert changes == [f"Batch 2: removed “{gate.label}”: no PR changes a critical path."]
    assert batch.events.filter(action=BatchEventAction.CRITICAL_GATE_REMOVED, by=release_manager).exists()


def test_a_gate_with_history_is_never_removed(critical_journey, release_manager):
    batch = critical_journey.batch(2)
    _link(critical_journey, batch, 4, ["backend/app/routers/x.py"])
    critical_journey.fake.github_checks(
        REPO, head_sha(4), [{"name": AI_CHECK, "status": "completed", "conclusion": "failure"}]
    )
    batch_sync(batch=batch)
    gate = _critical_gate(batch)
    assert gate.state == GateState.FAILING
    assert gate.events.exists()
    plan_configure(plan=critical_journey.plan, by=release_manager, values={"critical_paths": []})
    kept = _critical_gate(batch)
    assert kept is not None
    assert kept.pk == gate.pk
    assert [p.number for p in kept.prs.all()] == [4]
    assert kept.events.count() == gate.events.count()


def test_an_approved_batch_never_changes(critical_journey, release_manager):
    batch = critical_journey.approve(critical_journey.batch(1))
    gates_before = sorted(batch.gates.values_list("key", flat=True))
    # Batch 1's PRs changed nothing critical; now the globs say everything is.
    plan_configure(plan=critical_journey.plan, by=release_manager, values={"critical_paths": ["**"]})
    assert critical_path_gates_sync(plan=critical_journey.plan) == []
    assert sorted(batch.gates.values_list("key", flat=True)) == gates_before


def test_the_rule_costs_a_constant_number_of_queries(critical_journey, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        critical_path_gates_sync(plan=critical_journey.plan)
