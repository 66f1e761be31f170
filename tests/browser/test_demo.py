"""The living demo, in a browser: from what `make run` seeds to batch 2 approved and batch 3 started.

The issue's "done means": an engineer, ops and a release manager take batch 2 to
approved in the browser, with no admin or shell step, and batch 3 can then start.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from PIL import Image

from batches.models import Batch, BatchState
from demo.simulator import demo_world, simulated_providers, world_path
from tests.browser.review_steps import approve_in_review

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PLAN = "/plans/batch-plan-2025-10/"


@pytest.fixture
def demo(settings, tmp_path, live_server):
    """setup_demo's seeding, then the simulated providers sending their webhooks to the live server over HTTP."""
    settings.VAR_DIR = tmp_path / "var"
    settings.DEBUG = True
    settings.DEMO_PROVIDERS = None
    for name in ("GITHUB_TOKEN", "RENDER_API_KEY", "SENTRY_AUTH_TOKEN", "GITHUB_WEBHOOK_SECRET"):
        setattr(settings, name, None)
    call_command("setup_demo", verbosity=0)
    with simulated_providers(demo_world(world_path()), webhook_url=f"{live_server.url}/webhooks/github/") as running:
        yield running


def log_in(page, live_server, username: str, path: str) -> None:
    # Leave the polling page first: the live server shares one in-memory SQLite connection between threads.
    page.goto("about:blank")
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/login/?next={path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("gatehouse-demo")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}{path}")


def press(page, row_text: str, button: str) -> str:
    row = page.locator("li.row", has_text=row_text).first
    row.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state()
    return page.locator("#messages").inner_text()


def test_batch_2_goes_from_seeded_to_approved_in_the_browser(page, live_server, demo, tmp_path):
    log_in(page, live_server, "demo-release-manager", PLAN)
    overview = page.locator("#batch-list").inner_text()
    assert "Approved" in overview
    assert "In progress" in overview
    assert "1 waived" in overview

    page.get_by_role("link", name="Drive the simulated providers").click()
    assert "claude[bot] approved demo-org/paiid#105." in press(page, "demo-org/paiid#105", "AI review approves")
    assert "demo-org/paiid#104 is merged into main" in press(page, "demo-org/paiid#104", "Merge")
    assert "demo-org/paiid#105 is merged into main" in press(page, "demo-org/paiid#105", "Merge")
    assert "is live" in press(page, "srv-paiid-backend", "Deploy main: live")
    assert "The simulated Sentry is back up" in press(page, "Sentry", "End the outage")

    batch_2 = f"{PLAN}batches/2/"
    shot = tmp_path / "sentry-render-dashboards.png"
    Image.new("RGB", (640, 400), (20, 120, 200)).save(shot, "PNG")
    log_in(page, live_server, "demo-ops", batch_2)
    page.locator("input[type=file]").set_input_files(str(shot))
    page.get_by_role("button", name="Upload screenshot").click()
    page.locator("img.thumb").wait_for()

    log_in(page, live_server, "demo-engineer", batch_2)
    page.get_by_role("button", name="Tick", exact=True).click()
    page.get_by_text("Ticked", exact=True).first.wait_for()

    log_in(page, live_server, "demo-release-manager", batch_2)
    page.get_by_role("button", name="Mark ready for review").click()
    approve_in_review(page)  # the seeded release checklist, confirmed in the review

    page.goto(f"{live_server.url}{PLAN}")
    page.get_by_role("button", name="Start Batch 3").click()
    page.locator("#batch-3 .badge--in_progress").wait_for()
    page.goto("about:blank")  # stop the page's polling before reading the database here
    states = dict(Batch.objects.values_list("number", "state"))
    assert states == {
        1: BatchState.APPROVED,
        2: BatchState.APPROVED,
        3: BatchState.IN_PROGRESS,
        4: BatchState.PLANNED,
    }
