"""Importing a plan in a real browser: preview first, then confirm; with and without JavaScript."""

from __future__ import annotations

import pytest

from batches.models import Plan
from tests.browser.test_review_flow import log_in
from tests.conftest import SAMPLE_PLAN

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_preview_swaps_in_place_then_confirm_opens_the_plan(page, live_server, release_manager):
    log_in(page, live_server, release_manager, "/")
    page.get_by_label("Plan file (.md)").set_input_files(str(SAMPLE_PLAN))
    page.get_by_role("button", name="Preview import").click()
    page.get_by_role("heading", name="Import preview: Strategic Batch Delivery Plan").wait_for()
    assert page.url == f"{live_server.url}/"  # swapped into the home page by htmx
    assert page.locator("#import li.card").count() == 4
    assert "AI review covers PRs #3 and #5" in page.locator("#preview-batch-2").inner_text()
    assert not Plan.objects.exists()
    page.get_by_role("button", name="Confirm import").click()
    page.wait_for_url(f"{live_server.url}/plans/batch-plan-2025-10/")
    assert "Imported “Strategic Batch Delivery Plan (October 2025 Refresh)”" in page.locator("#messages").inner_text()
    assert Plan.objects.get().batches.count() == 4


def test_cancel_brings_the_form_back(page, live_server, release_manager):
    log_in(page, live_server, release_manager, "/")
    page.get_by_label("Plan file (.md)").set_input_files(str(SAMPLE_PLAN))
    page.get_by_role("button", name="Preview import").click()
    page.get_by_role("link", name="Cancel").click()
    page.get_by_label("Plan file (.md)").wait_for()
    assert not Plan.objects.exists()


def test_without_javascript_a_refused_file_then_reload_shows_the_form(browser, live_server, release_manager, tmp_path):
    """Issue 8: after a failed import without JavaScript, reloading /import/ answered 405."""
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server, release_manager, "/")
    broken = tmp_path / "broken.md"
    broken.write_text("# Plan\n\n### Batch 1 – One\n\n- **Goals**\n  - x\n", encoding="utf-8")
    page.get_by_label("Plan file (.md)").set_input_files(str(broken))
    page.get_by_role("button", name="Preview import").click()
    page.wait_for_url(f"{live_server.url}/import/")
    assert (
        "broken.md was not imported: Line 3: Batch 1 has no Readiness Gates" in page.get_by_role("alert").inner_text()
    )
    response = page.goto(page.url)
    assert response.status == 200
    page.get_by_label("Plan file (.md)").set_input_files(str(SAMPLE_PLAN))
    page.get_by_role("button", name="Preview import").click()
    page.get_by_role("heading", name="Import preview: Strategic Batch Delivery Plan").wait_for()
    page.get_by_role("button", name="Confirm import").click()
    page.wait_for_url(f"{live_server.url}/plans/batch-plan-2025-10/")
    assert Plan.objects.get().batches.count() == 4
    context.close()
