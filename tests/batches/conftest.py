"""Fixtures for the live-gates tests: the fake provider server and a batch wired to it."""

from __future__ import annotations

import pytest

from batches.models import BatchState, GateKind, GateScope, GateState
from tests.factories import BatchFactory, GateFactory, PlanFactory, PlannedPRFactory
from tests.fake_providers import FakeProviders

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
