"""Demo fixtures: the simulated providers running in this process, and the sample plan wired to them."""

from __future__ import annotations

import pytest

from batches.pr_linking import planned_pr_link
from demo.seed import plan_configure_for_demo
from demo.simulator import REPOSITORY, demo_world, simulated_providers
from tests.batches.conftest import batch, fake, open_prs, plan, providers  # noqa: F401


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _demo_settings(settings, tmp_path):
    """No real provider configured, whatever the shell exports; the demo's files under a per-test folder."""
    settings.VAR_DIR = tmp_path / "var"
    settings.DEMO_PROVIDERS = None
    settings.DEBUG = True
    for name in ("GITHUB_TOKEN", "RENDER_API_KEY", "SENTRY_AUTH_TOKEN", "GITHUB_WEBHOOK_SECRET"):
        setattr(settings, name, None)


@pytest.fixture
def simulator(settings, tmp_path):
    """The simulated providers, webhooks handed to the view in-process; settings restored afterwards."""
    with simulated_providers(demo_world(tmp_path / "demo-providers.json")) as running:
        yield running


@pytest.fixture
def demo_plan(sample_plan, simulator, release_manager):
    """The sample plan configured for the simulation, batch 1 started, its PRs linked as #101 and #102."""
    plan_configure_for_demo(sample_plan, by=release_manager)
    first = sample_plan.batches.get(number=1)
    first.start(by=release_manager)
    for pr in first.prs.order_by("number"):
        planned_pr_link(pr=pr, url=f"https://github.com/{REPOSITORY}/pull/{100 + pr.number}")
        simulator.pr_open(REPOSITORY, 100 + pr.number)
    return sample_plan
