"""Seed the sample plan mid-flight, through the product's own actions only.

What a newcomer sees after ``make run``: batch 1 approved (the CI, AI review,
deploy and manual gates passed; its checklist ticked by an engineer with an ops
screenshot; the Sentry gate waived by the release manager during an outage),
batch 2 in progress (CI passing, the AI review failing because ``claude[bot]``
requested changes on PR #5, Sentry stale because of that outage, the deploy
and docs pending until PRs #4 and #5 merge and go live, the ops screenshots
still to do), and batches 3 and 4 planned.

Nothing here writes a computed state: PRs are linked with ``planned_pr_link``,
the simulated providers report results and deliver signed webhooks to the
webhook view (Render and Sentry changes are read by a sync), people tick with
``signoff_record`` and upload with ``evidence_add``, and batches move with
``start``/``mark_ready``/``approve``.
"""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from batches.models import Batch, Gate, GateKind, Plan
from batches.plan_settings import gate_check_names_configure, plan_configure
from batches.pr_linking import planned_pr_link
from demo.screenshot import dashboard_png
from demo.simulator import (
    AI_BOT_LOGIN,
    AI_CHECK_NAME,
    RENDER_SERVICE,
    REPOSITORY,
    SENTRY_ENVIRONMENT,
    SENTRY_ORGANIZATION,
    SENTRY_PROJECT,
    Simulator,
    changed_files,
)
from portal.roles import Actor
from signoffs.evidence import evidence_add
from signoffs.models import SignOff
from signoffs.services import signoff_record

# The CI check each batch's CI gate waits for (the plan names commands, not check names).
CI_CHECKS = {1: "pytest", 2: "smoke-tests", 3: "frontend-tests", 4: "ci/unit-and-snapshot"}
# Plan PR #n is pull request 100 + n of the demo repository.
GITHUB_NUMBER_OFFSET = 100
SENTRY_WAIVER = (
    "Sentry's API is down (HTTP 503) during the review. I checked the Sentry dashboard by hand at the review: "
    "no new errors since the deploy."
)


class SeedError(Exception):
    """The demo could not be seeded. ``str()`` says which step failed."""


def plan_is_untouched(plan: Plan) -> bool:
    """True while nobody has started a batch, linked a PR or signed anything: the plan may be seeded."""
    batches = plan.batches.all()
    return (
        not batches.exclude(state="planned").exists()
        and not batches.filter(prs__github_number__isnull=False).exists()
        and not SignOff.objects.filter(item__gate__batch__plan=plan).exists()
    )


def demo_seed(*, plan: Plan, simulator: Simulator, release_manager, engineer, ops) -> list[str]:
    """Drive ``plan`` to the demo's mid-flight state; returns what was done, one line per batch."""
    plan_configure_for_demo(plan, by=release_manager)
    batches = {b.number: b for b in plan.batches.order_by("number")}
    if not {1, 2} <= batches.keys():
        raise SeedError("The demo needs a plan with at least two batches.")
    lines = [_seed_batch_1(batches[1], simulator, release_manager, engineer, ops)]
    lines.append(_seed_batch_2(batches[2], simulator, release_manager))
    return lines


def plan_configure_for_demo(plan: Plan, *, by: Actor) -> None:
    """Save the plan's settings for the simulated providers and name each CI gate's check, as a release
    manager does on the plan's settings page. Render and Sentry being configured adds their gates to every
    open batch, so this comes before any batch starts."""
    plan_configure(
        plan=plan,
        by=by,
        values={
            "github_repository": REPOSITORY,
            "ai_reviewer_check_name": AI_CHECK_NAME,
            "ai_reviewer_bot_login": AI_BOT_LOGIN,
            "render_service_ids": [RENDER_SERVICE],
            "sentry_organization": SENTRY_ORGANIZATION,
            "sentry_project": SENTRY_PROJECT,
            "sentry_environment": SENTRY_ENVIRONMENT,
            # The sample plan's AI-review principle names areas, not paths: a release manager writes them.
            "critical_paths": ["backend/app/routers/**", "render.yaml", "**/auth/**"],
        },
    )
    gates = Gate.objects.filter(batch__plan=plan, kind=GateKind.CI).select_related("batch")
    gate_check_names_configure(plan=plan, check_names={g.pk: CI_CHECKS.get(g.batch.number, "ci") for g in gates})


def _link(batch: Batch, simulator: Simulator) -> list[tuple[int, list[str]]]:
    """Link every planned PR of ``batch`` to its demo pull request and let GitHub say it is open."""
    linked = []
    for pr in batch.prs.select_related("batch__plan").order_by("number"):
        number = GITHUB_NUMBER_OFFSET + pr.number
        planned_pr_link(pr=pr, url=f"https://github.com/{REPOSITORY}/pull/{number}")
        simulator.pr_open(REPOSITORY, number)
        linked.append((number, changed_files(pr)))
    return linked


def _gate(batch: Batch, kind: str) -> Gate:
    return batch.gates.get(kind=kind)


def _seed_batch_1(batch: Batch, simulator: Simulator, release_manager, engineer, ops) -> str:
    batch.start(by=release_manager)
    for number, files in _link(batch, simulator):
        simulator.pr_check(REPOSITORY, number, name=CI_CHECKS[1], passed=True)
        simulator.pr_ai_review(REPOSITORY, number, check_name=AI_CHECK_NAME, bot_login=AI_BOT_LOGIN, approve=True)
        simulator.pr_merge(REPOSITORY, number, files=files)
    simulator.render_deploy(RENDER_SERVICE, live=True)

    # The Sentry API goes down during the review: its gate turns stale, and the
    # release manager waives it with the reason on record.
    simulator.outage("sentry", down=True)
    _gate(batch, GateKind.OBSERVABILITY).waive(by=release_manager, reason=SENTRY_WAIVER)

    for gate in batch.gates.filter(kind=GateKind.MANUAL):
        for item in gate.items.order_by("position", "pk"):
            png = dashboard_png(
                title="PaiiD staging · Options chain",
                subtitle="AAPL options: the expiration dropdown after the routing fix",
                rows=[
                    ("GET /api/expirations/AAPL", "200 · 12 expirations · 84 ms", True),
                    ("Expiration dropdown", "populated (2025-11-21 … 2027-01-15)", True),
                    ("Console errors", "none", True),
                ],
            )
            evidence_add(
                item=item,
                upload=SimpleUploadedFile("staging-options-chain.png", png, content_type="image/png"),
                by=ops,
                note="Staging, after PRs #1 and #2 were deployed.",
            )
            signoff_record(
                item=item,
                user=engineer,
                action=SignOff.Action.TICK,
                note="Checked on staging: the dropdown lists every AAPL expiration.",
            )
    batch.refresh_from_db()
    batch.mark_ready(by=release_manager)
    batch.approve(by=release_manager)
    return f"Batch {batch.number}: approved (Sentry gate waived during an outage)."


def _seed_batch_2(batch: Batch, simulator: Simulator, release_manager) -> str:
    batch.start(by=release_manager)
    linked = dict(_link(batch, simulator))
    for number in linked:
        simulator.pr_check(REPOSITORY, number, name=CI_CHECKS[2], passed=True)
    first, *_, last = sorted(linked)
    simulator.pr_ai_review(REPOSITORY, first, check_name=AI_CHECK_NAME, bot_login=AI_BOT_LOGIN, approve=True)
    simulator.pr_ai_review(
        REPOSITORY,
        last,
        check_name=AI_CHECK_NAME,
        bot_login=AI_BOT_LOGIN,
        approve=False,
        findings="Blocking: settings.py reads SENTRY_DSN at import time; a missing secret crashes startup.",
    )
    simulator.pr_merge(REPOSITORY, first, files=linked[first])
    simulator.render_deploy(RENDER_SERVICE, live=True)
    return (
        f"Batch {batch.number}: in progress (the AI review requested changes on PR #{last - GITHUB_NUMBER_OFFSET}, "
        "Sentry is stale during the outage, the deploy and docs wait for the other PRs to merge, "
        "ops screenshots to do)."
    )
