"""The home page's plan status and the roadmap, in a real browser without JavaScript."""

from __future__ import annotations

import pytest

from tests.browser.test_review_flow import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_from_the_home_status_to_the_roadmap_without_javascript(browser, live_server, sample_plan, release_manager):
    batch2 = sample_plan.batches.get(number=2)
    batch2.start(by=release_manager, override_reason="The Sentry fix cannot wait")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server, release_manager, "/")
    card = page.locator("#plan-batch-plan-2025-10")
    # Batch 2 is the started one; what blocks it comes from the readiness rule.
    assert "Batch 2 in progress, blocked" in card.inner_text()
    assert "is pending" in card.get_by_role("list", name="What blocks Batch 2").inner_text()
    card.get_by_role("link", name="Roadmap").click()
    page.wait_for_url(f"{live_server.url}/plans/batch-plan-2025-10/roadmap/")

    table = page.get_by_role("table")
    assert table.get_by_role("columnheader").all_inner_texts()[:7] == [
        "Planned",
        "Batch",
        "Target date",
        "Started",
        "Ready for review",
        "Approved",
        "Actually started",
    ]
    row = table.get_by_role("row", name="Batch 2 – Deployment & Observability Hardening")
    cells = row.get_by_role("cell").all_inner_texts()
    assert cells[0] == "2"
    assert cells[1] == "no target date"
    assert "override: “The Sentry fix cannot wait”" in cells[2]
    assert cells[5] == "#1 (planned #2)"
    assert table.get_by_role("row").count() == 5  # the header and four batches
    assert page.get_by_role("heading", name="Guiding principles").is_visible()
    assert "PRODUCTION_DEPLOYMENT_GUIDE.md" in page.get_by_role("heading", name="Governance").locator("..").inner_text()
    context.close()
