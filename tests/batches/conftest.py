"""Batches fixtures: the live-gates fake provider server and a batch wired to it, and
plans built row by row with bulk_create for query-count tests at realistic size."""

from __future__ import annotations

import itertools

import pytest
from django.utils import timezone

from batches.models import Batch, BatchState, Gate, GateKind, GateScope, GateState, Plan, PlannedPR
from providers.fake import FakeProviders
from signoffs.models import ChecklistItem, Evidence, SignOff
from tests.factories import BatchFactory, GateFactory, PlanFactory, PlannedPRFactory, UserFactory

REPO = "octo-org/gatehouse-demo"
SHA1 = "1" * 40
SHA2 = "2" * 40
WEBHOOK_SECRET = "It's a Secret to Everybody"


@pytest.fixture
def fake():
    server = FakeProviders().start()
    yield server
    server.stop()


@pytest.fixture
def providers(settings, fake):
    """Point every client at the fake server, with credentials set."""
    settings.GITHUB_API_URL = fake.github_url
    settings.RENDER_API_URL = fake.render_url
    settings.SENTRY_URL = fake.sentry_url
    settings.GITHUB_TOKEN = "ghp-test"
    settings.RENDER_API_KEY = "rnd-test"
    settings.SENTRY_AUTH_TOKEN = "sntrys-test"
    settings.GITHUB_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.PROVIDER_TIMEOUT_SECONDS = 5
    return fake


@pytest.fixture
def plan(db):
    return PlanFactory(
        github_repository=REPO,
        ai_reviewer_check_name="claude-review",
        ai_reviewer_bot_login="claude[bot]",
        ai_review_timeout_minutes=60,
        render_service_ids=["srv-demo"],
        sentry_organization="the-interstellar-jurisdiction",
        sentry_project="pump-station",
        sentry_environment="production",
    )


@pytest.fixture
def batch(plan):
    batch = BatchFactory(plan=plan, number=1, state=BatchState.IN_PROGRESS)
    pr1 = PlannedPRFactory(batch=batch, number=1, github_number=11)
    pr2 = PlannedPRFactory(batch=batch, number=2, github_number=12)
    GateFactory(batch=batch, key="ci-1", kind=GateKind.CI, check_name="pytest", state=GateState.NEEDS_CONFIG)
    ai = GateFactory(batch=batch, key="ai-review-1", kind=GateKind.AI_REVIEW, scope=GateScope.PRS, label="Claude")
    ai.prs.set([pr1, pr2])
    GateFactory(batch=batch, key="docs-1", kind=GateKind.DOCS, label="Docs", doc_files=["DEPLOYMENT_STATUS.md"])
    GateFactory(batch=batch, key="deploy-1", kind=GateKind.DEPLOY, label="Deploy")
    GateFactory(batch=batch, key="observability-1", kind=GateKind.OBSERVABILITY, label="Sentry")
    return batch


@pytest.fixture
def open_prs(providers, batch):
    """Both PRs open on the fake GitHub, nothing reported on them yet."""
    providers.github_pr(REPO, 11, head_sha=SHA1)
    providers.github_pr(REPO, 12, head_sha=SHA2)
    return providers


def gate(batch, kind):
    return batch.gates.get(kind=kind)


# -- big plans for query counts ----------------------------------------------------

# Eight gates per batch: every kind, two CI and two manual.
GATE_KINDS = [
    GateKind.CI,
    GateKind.CI,
    GateKind.AI_REVIEW,
    GateKind.MANUAL,
    GateKind.MANUAL,
    GateKind.DEPLOY,
    GateKind.OBSERVABILITY,
    GateKind.DOCS,
]
STATES = [GateState.PASSING, GateState.FAILING, GateState.STALE, GateState.PENDING, GateState.NEEDS_CONFIG]


def build_plan(*, slug: str, batches: int, prs_per_batch: int = 3, signoffs: int = 0) -> Plan:
    """A plan of ``batches`` batches × ``prs_per_batch`` PRs × 8 gates (2 items per manual gate).

    Batch states run approved…, one in progress (the middle one), then planned.
    ``signoffs`` tick/untick/note events are spread over the checklist items,
    and every other item gets one evidence row.
    """
    users = [UserFactory(username=f"{slug}-signer-{n}", role="engineer", password=None) for n in range(3)]
    plan = Plan.objects.create(slug=slug, title=f"Plan {slug}", github_repository="acme/shop")
    middle = (batches + 1) // 2
    now = timezone.now()
    batch_rows = []
    for number in range(1, batches + 1):
        state = (
            BatchState.APPROVED
            if number < middle
            else BatchState.IN_PROGRESS
            if number == middle
            else BatchState.PLANNED
        )
        batch_rows.append(
            Batch(
                plan=plan,
                number=number,
                title=f"Batch {number} of {slug}",
                target_pr_count=prs_per_batch,
                goals=["Ship it", "Keep it green"],
                key_tasks=[{"text": f"Task {n}", "pr_numbers": [n], "files": []} for n in range(prs_per_batch)],
                state=state,
                started_at=now if state != BatchState.PLANNED else None,
                approved_at=now if state == BatchState.APPROVED else None,
                approved_by=users[0] if state == BatchState.APPROVED else None,
            )
        )
    Batch.objects.bulk_create(batch_rows)
    batch_rows = list(plan.batches.order_by("number"))
    pr_number = itertools.count(1)
    PlannedPR.objects.bulk_create(
        PlannedPR(
            batch=b,
            number=next(pr_number),
            task="Work",
            github_repository="acme/shop" if n == 0 else "",
            github_number=100 + b.number if n == 0 else None,
            github_url=f"https://github.com/acme/shop/pull/{100 + b.number}" if n == 0 else "",
            github_state="open" if n == 0 else "",
        )
        for b in batch_rows
        for n in range(prs_per_batch)
    )
    Gate.objects.bulk_create(
        Gate(
            batch=b,
            key=f"{kind}-{position}",
            kind=kind,
            label=f"{kind} gate {position}",
            position=position,
            scope=GateScope.PRS if kind == GateKind.AI_REVIEW else GateScope.BATCH,
            state=GateState.PASSING if b.state == BatchState.APPROVED else STATES[(b.number + position) % len(STATES)],
            source="bulk",
            last_checked_at=now,
        )
        for b in batch_rows
        for position, kind in enumerate(GATE_KINDS)
    )
    through = Gate.prs.through
    prs_by_batch = {}
    for pr in PlannedPR.objects.filter(batch__plan=plan):
        prs_by_batch.setdefault(pr.batch_id, []).append(pr)
    through.objects.bulk_create(
        through(gate_id=g.pk, plannedpr_id=pr.pk)
        for g in Gate.objects.filter(batch__plan=plan, kind=GateKind.AI_REVIEW)
        for pr in prs_by_batch[g.batch_id]
    )
    ChecklistItem.objects.bulk_create(
        ChecklistItem(gate=g, key=f"item-{n}", text=f"Check {n} of {g.label}", position=n, evidence_required=n == 1)
        for g in Gate.objects.filter(batch__plan=plan, kind=GateKind.MANUAL)
        for n in range(2)
    )
    items = list(ChecklistItem.objects.filter(gate__batch__plan=plan).order_by("pk"))
    events, sequences = [], {}
    for n in range(signoffs):
        item = items[n % len(items)]
        sequence = sequences[item.pk] = sequences.get(item.pk, 0) + 1
        action = (SignOff.Action.TICK, SignOff.Action.UNTICK, SignOff.Action.NOTE)[(sequence - 1) % 3]
        events.append(SignOff(item=item, sequence=sequence, action=action, user=users[n % 3], note=f"note {n}"))
    SignOff.objects.bulk_create(events)
    Evidence.objects.bulk_create(
        Evidence(
            item=item,
            uploaded_by=users[1],
            original_name=f"shot-{item.pk}.png",
            format=Evidence.Format.PNG,
            file=f"bulk-{item.pk}.png",
            width=1280,
            height=800,
            original_size=1000,
            stored_size=900,
            original_sha256="0" * 64,
            stored_sha256="1" * 64,
        )
        for item in items[::2]
    )
    return plan


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The personas hash a password each; PBKDF2 at full strength dominates these tests' setup.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def small_plan(db):
    return build_plan(slug="small", batches=3, prs_per_batch=1, signoffs=6)


@pytest.fixture
def big_plan(db):
    return build_plan(slug="big", batches=50, prs_per_batch=3, signoffs=1000)


# -- an AI review gate the reviewer could not answer --------------------------------------


def ai_check(providers, conclusion, **output):
    for sha in (SHA1, SHA2):
        run = {"name": "claude-review", "status": "completed", "conclusion": conclusion}
        if output:
            run["output"] = output
        providers.github_checks(REPO, sha, [run])


@pytest.fixture
def ai_gate(batch, open_prs):
    """The AI reviewer timed out on both PRs: the gate says so after a sync."""
    ai_check(open_prs, "timed_out")
    from batches.sync import batch_sync

    batch_sync(batch=batch)
    gate = batch.gates.get(kind=GateKind.AI_REVIEW)
    assert gate.state == GateState.REVIEWER_UNAVAILABLE
    return gate
