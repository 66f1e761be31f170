"""The lifecycle end to end, in Chromium, against the fake GitHub, Render and Sentry on loopback.

Every state comes from a page action, a signed webhook, or the sync pass that
runportal's loop (or Celery beat) runs: nothing here writes a state the
product computes.
"""

from __future__ import annotations

import pytest
from PIL import Image

from batches.models import Batch, BatchState, GateKind
from batches.sync import active_batches, batches_sync
from providers.fake import FakeProviders
from providers.fake.webhooks import check_run_completed, deliver_github_webhook, pull_request_event
from tests.browser.review_steps import approve_in_review
from tests.conftest import SAMPLE_PLAN
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPO = "acme/paiid"
SECRET = "e2e webhook secret"
SHA = {1: "1" * 40, 2: "2" * 40}
MERGE = {1: "a" * 40, 2: "b" * 40}
PLAN = "/plans/batch-plan-2025-10/"


@pytest.fixture
def fake(settings, live_server):
    server = FakeProviders().start()
    settings.GITHUB_API_URL = server.github_url
    settings.GITHUB_WEB_URL = "https://github.com"
    settings.RENDER_API_URL = server.render_url
    settings.SENTRY_URL = server.sentry_url
    settings.GITHUB_TOKEN = "ghp-e2e"
    settings.RENDER_API_KEY = "rnd-e2e"
    settings.SENTRY_AUTH_TOKEN = "sntrys-e2e"
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    settings.PROVIDER_TIMEOUT_SECONDS = 5
    yield server
    server.stop()


def log_in(page, live_server, user, path: str) -> None:
    page.goto("about:blank")  # stop the previous page's polling
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/login/?next={path}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}{path}")


def webhook(live_server, event: str, payload: dict) -> None:
    status = deliver_github_webhook(f"{live_server.url}/webhooks/github/", secret=SECRET, event=event, payload=payload)
    assert status in (200, 202), status


def sync_pass() -> None:
    """What runportal's loop (or Celery beat) does every GATE_SYNC_INTERVAL_SECONDS."""
    batches_sync(batches=list(active_batches()))


def test_batch_1_goes_from_import_to_approval_and_batch_2_can_start(
    page, live_server, fake, release_manager, engineer, ops, tmp_path
):
    # -- the release manager imports the plan: a preview first, then the import ------------------------
    log_in(page, live_server, release_manager, "/")
    page.locator("#plan-file").set_input_files(str(SAMPLE_PLAN))
    page.get_by_role("button", name="Preview import").click()
    page.get_by_role("button", name="Confirm import").click()
    page.wait_for_url(f"{live_server.url}{PLAN}")

    # -- and sets the plan up: repository, reviewer, Render, Sentry, batch 1's CI check name -----------
    page.get_by_role("link", name="Plan settings").click()
    page.get_by_label("GitHub repository").fill(REPO)
    page.get_by_label("AI reviewer's check name").fill("claude-review")
    page.get_by_label("AI reviewer's bot login").fill("claude[bot]")
    page.get_by_label("Render service ids").fill("srv-paiid")
    page.get_by_label("Sentry organisation").fill("acme")
    page.get_by_label("Sentry project").fill("paiid-backend")
    page.get_by_label("pytest backend/tests/test_options_endpoint.py").fill("backend-tests")
    page.get_by_role("button", name="Save settings").click()
    assert "Batch 1: added “Render deploy of the batch is live”." in page.locator("#messages").inner_text()

    # -- starts batch 1 and links its PRs by URL ---------------------------------------------------------
    for number in (1, 2):
        fake.github_pr(REPO, 100 + number, head_sha=SHA[number])
    page.goto(f"{live_server.url}{PLAN}batches/1/")
    page.get_by_role("button", name="Start Batch 1").click()
    page.locator("#lifecycle .badge--in_progress").wait_for()
    for number in (1, 2):
        row = page.locator(f"#pr-{number}")
        row.get_by_label(f"GitHub URL for PR #{number}").fill(f"https://github.com/{REPO}/pull/{100 + number}")
        row.get_by_role("button", name="Link").click()
        row.get_by_text(f"{REPO}#{100 + number}").wait_for()

    # -- GitHub reports CI and the AI review green, through signed webhooks ------------------------------
    for number in (1, 2):
        runs = [
            {"name": "backend-tests", "status": "completed", "conclusion": "success"},
            {"name": "claude-review", "status": "completed", "conclusion": "success"},
        ]
        fake.github_checks(REPO, SHA[number], runs)
        payload = check_run_completed(
            REPO,
            name="claude-review",
            conclusion="success",
            head_sha=SHA[number],
            numbers=[100 + number],
            completed_at="2026-11-24T10:00:00Z",
        )
        webhook(live_server, "check_run", payload)
    batch1 = Batch.objects.get(number=1)
    ci = batch1.gates.get(kind=GateKind.CI)
    page.locator(f"#gate-{ci.pk} .badge--passing").wait_for()
    ai = batch1.gates.get(kind=GateKind.AI_REVIEW)
    page.locator(f"#gate-{ai.pk} .badge--passing").wait_for()

    # -- the PRs merge (webhooks), the deploy goes live and Sentry has no new issues (the sync reads them)
    for number in (1, 2):
        merged = {"state": "closed", "merged_at": "2026-11-24T11:00:00Z", "merge_commit_sha": MERGE[number]}
        fake.github_pr(REPO, 100 + number, head_sha=SHA[number], **merged)
        fake.github_checks(REPO, SHA[number], runs)
        payload = pull_request_event(
            REPO,
            "closed",
            number=100 + number,
            head_sha=SHA[number],
            merged_at="2026-11-24T11:00:00Z",
            merge_commit_sha=MERGE[number],
        )
        webhook(live_server, "pull_request", payload)
    fake.render_deploys("srv-paiid", [{"status": "live", "commit_id": MERGE[2], "finishedAt": "2026-11-24T11:30:00Z"}])
    fake.github_compare(REPO, MERGE[1], MERGE[2], "ahead")
    fake.sentry_issues("acme", [])
    page.goto("about:blank")  # the sync below writes; keep the in-memory SQLite free of the page's polls
    sync_pass()
    page.goto(f"{live_server.url}{PLAN}batches/1/")
    for kind in (GateKind.DEPLOY, GateKind.OBSERVABILITY):
        gate = batch1.gates.get(kind=kind)
        page.locator(f"#gate-{gate.pk} .badge--passing").wait_for()

    # -- ops uploads a screenshot, the engineer ticks ------------------------------------------------------
    item = batch1.gates.get(kind=GateKind.MANUAL).items.get()
    shot = tmp_path / "staging-options-chain.png"
    Image.new("RGB", (1280, 800), (20, 120, 200)).save(shot, "PNG")
    log_in(page, live_server, ops, f"{PLAN}batches/1/")
    page.locator(f"#file-{item.pk}").set_input_files(str(shot))
    page.locator(f"#item-{item.pk}").get_by_role("button", name="Upload screenshot").click()
    page.locator(f"#item-{item.pk} img.thumb").wait_for()
    log_in(page, live_server, engineer, f"{PLAN}batches/1/")
    page.locator(f"#item-{item.pk}").get_by_role("button", name="Tick", exact=True).click()
    page.locator(f"#item-{item.pk}-status .item__who").get_by_text("Ticked", exact=True).wait_for()

    # -- the release manager marks it ready and the review approves it; batch 2 can start ------------
    log_in(page, live_server, release_manager, f"{PLAN}batches/1/")
    page.get_by_role("button", name="Mark ready for review").click()
    approve_in_review(page)  # the review's decision approves it
    page.goto(f"{live_server.url}{PLAN}batches/2/")
    page.get_by_role("button", name="Start Batch 2").click()
    page.locator("#lifecycle .badge--in_progress").wait_for()
    page.goto("about:blank")
    assert dict(Batch.objects.values_list("number", "state")) == {
        1: BatchState.APPROVED,
        2: BatchState.IN_PROGRESS,
        3: BatchState.PLANNED,
        4: BatchState.PLANNED,
    }


def test_batch_2_waits_for_a_batch_1_that_only_has_waivers_unless_overridden(
    page, live_server, fake, sample_plan, release_manager
):
    from batches.plan_settings import plan_configure
    from batches.pr_linking import planned_pr_link

    # Batch 1: its AI reviewer timed out and nobody has named its CI check yet; both are waived.
    plan_configure(
        plan=sample_plan,
        by=release_manager,
        values={"github_repository": REPO, "ai_reviewer_check_name": "claude-review"},
    )
    batch1 = sample_plan.batches.get(number=1)
    batch1.start(by=release_manager)
    for pr in batch1.prs.all():
        fake.github_pr(REPO, 100 + pr.number, head_sha=SHA[pr.number])
        run = {"name": "claude-review", "status": "completed", "conclusion": "timed_out"}
        fake.github_checks(REPO, SHA[pr.number], [run])
        planned_pr_link(pr=pr, url=f"https://github.com/{REPO}/pull/{100 + pr.number}")
    sync_pass()
    for gate in batch1.gates.exclude(kind=GateKind.MANUAL):
        gate.waive(by=release_manager, reason=f"{gate.get_kind_display()} cannot report this week")

    log_in(page, live_server, release_manager, f"{PLAN}batches/2/")
    start = page.get_by_role("button", name="Start Batch 2")
    assert start.is_disabled()
    reasons = page.locator("#move-refusal").inner_text()
    assert "Waiting for Batch 1: 1 CI gate not passing (1 waived, and a waiver is not a pass)." in reasons

    page.get_by_text("Start Batch 2 anyway, with an override").click()
    reason = "The Sentry DSN fix must ship before the freeze; batch 1 is verified by hand"
    page.get_by_label("Why must Batch 2 start now?").fill(reason)
    page.get_by_role("button", name="Continue to the override").click()
    page.get_by_role("heading", name="Start Batch 2 with an override?").wait_for()
    page.get_by_role("button", name="Start Batch 2 anyway").click()
    page.locator("#lifecycle .badge--in_progress").wait_for()
    assert reason in page.locator("#lifecycle").inner_text()
    assert "Started with an override by rita" in page.locator("#lifecycle").inner_text()

    page.goto(f"{live_server.url}{PLAN}batches/1/")
    notes = page.locator("#lifecycle").inner_text()
    assert "Batch 2 was started before this batch passed, by rita's override" in notes
    assert reason in notes
    page.goto(f"{live_server.url}{PLAN}batches/1/present/")
    present = page.locator("main").inner_text()
    assert "Batch 2 was started before this batch passed" in present
    assert "Waived by rita: “CI cannot report this week”" in present
