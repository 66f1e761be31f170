"""The stakeholder review in Chromium: the sample plan's batch 1 reviewed and approved; a sent-back batch.

The gates pass through the product's own actions (the fake GitHub answering,
a sync, ticks and uploads: tests/journey.py); the review itself happens in
the browser, and presenting mode follows it live.
"""

from __future__ import annotations

import pytest

from batches.models import Batch, BatchState
from reviews.models import ReviewConfirmation, ReviewDecision
from tests.browser.review_steps import approve_in_review, confirm_checklist
from tests.browser.test_lifecycle import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PLAN = "/plans/batch-plan-2025-10/"
BATCH_1 = f"{PLAN}batches/1/"


def test_a_full_review_of_batch_1_with_two_attendees_and_a_follow_up(
    page, browser, live_server, ready_batch, release_manager, stakeholder
):
    log_in(page, live_server, release_manager, BATCH_1)
    # The projector follows the review in presenting mode, in its own window.
    projector = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    log_in(projector, live_server, stakeholder, f"{BATCH_1}present/")
    projector.get_by_text("No review has been opened yet.").wait_for()

    page.get_by_role("button", name="Open review").click()
    page.get_by_role("heading", name="Review 1 is open").wait_for()
    page.get_by_label("Portal user").select_option(label="stan")
    page.get_by_role("button", name="Add attendee").click()
    page.locator("#attendees li", has_text="stan").wait_for()
    page.get_by_label("or a name").fill("Priya Raman")
    page.get_by_role("button", name="Add attendee").click()
    page.locator("#attendees li", has_text="Priya Raman").wait_for()

    assert confirm_checklist(page, ["stan", "Priya Raman"]) == 8
    projector.get_by_text("Attendees: rita, stan, Priya Raman").wait_for()
    projector.locator(".present__check--done").nth(7).wait_for()

    page.reload()
    page.get_by_label("Approve with follow-ups").check()
    page.get_by_label("Follow-up 1").fill("Re-run the Sentry check once the API is back")
    page.get_by_label("Owner").first.fill("olga")
    page.get_by_role("button", name="Record the decision").click()
    page.locator("#lifecycle .badge--approved").wait_for()
    page.locator("#review-panel").get_by_text("Review 1: Approved with follow-ups").wait_for()
    projector.get_by_text("Decision: Approved with follow-ups").wait_for()
    projector.close()

    # Batch 2 can start now.
    page.goto(f"{live_server.url}{PLAN}batches/2/")
    page.get_by_role("button", name="Start Batch 2").click()
    page.locator("#lifecycle .badge--in_progress").wait_for()
    page.goto("about:blank")
    assert dict(Batch.objects.filter(number__in=[1, 2]).values_list("number", "state")) == {
        1: BatchState.APPROVED,
        2: BatchState.IN_PROGRESS,
    }
    assert set(ReviewConfirmation.objects.values_list("attendee__name", flat=True)) == {"stan", "Priya Raman"}
    decision = ReviewDecision.objects.get()
    assert [(f.text, f.owner) for f in decision.follow_ups.all()] == [
        ("Re-run the Sentry check once the API is back", "olga")
    ]


def test_a_sent_back_batch_cannot_be_approved_until_it_is_reviewed_again(
    page, live_server, ready_batch, release_manager
):
    log_in(page, live_server, release_manager, BATCH_1)
    page.get_by_role("button", name="Open review").click()
    page.get_by_label("Send back", exact=True).check()
    page.get_by_label("Reason (required to send back: what must change)").fill("Smoke tests were not run")
    page.get_by_role("button", name="Record the decision").click()
    page.locator("#lifecycle .badge--in_progress").wait_for()

    # The old review is closed and no new one opens while the batch is in progress: nothing can approve it.
    page.goto(f"{live_server.url}{BATCH_1}review/")
    page.get_by_role("heading", name="Review 1: Sent back").wait_for()
    page.get_by_text("Batch 1 is in progress: a review opens once a release manager marks it ready").wait_for()
    assert page.get_by_role("button", name="Record the decision").count() == 0

    page.goto(f"{live_server.url}{BATCH_1}")
    page.get_by_role("button", name="Mark ready for review").click()
    page.get_by_role("button", name="Open review").click()
    page.get_by_role("heading", name="Review 2 is open").wait_for()
    # The new review confirms the checklist afresh before approval is possible.
    assert page.get_by_label("Approve", exact=True).is_disabled()
    page.get_by_text("8 checklist items are not confirmed yet").first.wait_for()

    confirm_checklist(page, ["rita"])
    page.reload()
    assert page.get_by_label("Approve", exact=True).is_enabled()
    page.get_by_label("Approve", exact=True).check()
    page.get_by_role("button", name="Record the decision").click()
    page.locator("#lifecycle .badge--approved").wait_for()
    page.goto("about:blank")
    assert Batch.objects.get(number=1).state == BatchState.APPROVED
    assert list(ReviewDecision.objects.order_by("session__number").values_list("decision", flat=True)) == [
        "sent_back",
        "approved",
    ]
    assert approve_in_review  # shared with the lifecycle and demo journeys
