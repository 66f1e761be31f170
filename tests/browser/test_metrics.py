"""The metrics page in Chromium: the charts draw, their numbers match the tables and the stored metrics."""

from __future__ import annotations

import pytest

from metrics.models import BatchMetrics
from tests.factories import PASSWORD
from tests.journey import AI_BOT, REPO, head_sha

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# True when the canvas has at least one pixel that is not fully transparent.
CANVAS_HAS_CONTENT = """id => {
  const canvas = document.getElementById(id);
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) return true; }
  return false;
}"""


def log_in(page, live_server, user, path: str) -> None:
    page.goto(f"{live_server.url}/login/?next={path}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}{path}")


def row_cells(page, table: str, batch: int) -> list[str]:
    return [text.strip() for text in page.locator(f"#{table} tr[data-batch='{batch}'] td").all_inner_texts()]


def test_charts_draw_and_match_the_tables_after_a_recompute(page, live_server, journey, release_manager, browser):
    journey.approve(journey.batch(1))  # the approval computes batch 1's metrics once it commits
    assert BatchMetrics.objects.filter(batch__number=1).exists()
    # The AI reviewer's findings on PR #1 (GitHub #101) arrive later; a release manager recomputes.
    journey.fake.github_reviews(REPO, 101, [{"id": 900, "login": AI_BOT, "state": "CHANGES_REQUESTED"}])
    journey.fake.github_review_comments(
        REPO,
        101,
        [
            {"login": AI_BOT, "pull_request_review_id": 900, "commit_id": head_sha(1)},
            {"login": AI_BOT, "pull_request_review_id": 900, "commit_id": head_sha(1)},
            {"login": AI_BOT, "pull_request_review_id": None, "commit_id": head_sha(1)},
        ],
    )
    path = f"/plans/{journey.plan.slug}/metrics/"
    log_in(page, live_server, release_manager, path)
    page.get_by_role("button", name="Recompute from the providers").click()
    page.get_by_text("Recomputed the metrics of 1 approved batch.").wait_for()

    stored = BatchMetrics.objects.get(batch__number=1)
    assert (stored.ai_findings_blocking, stored.ai_findings_non_blocking) == (2, 1)
    for chart in ("chart-cycle", "chart-findings", "chart-escapes"):
        page.wait_for_function(f"() => !!document.getElementById('{chart}').chart")
        assert page.evaluate(CANVAS_HAS_CONTENT, chart), f"{chart} drew nothing"

    # The table holds the numbers the chart draws, and both are the stored metrics.
    findings = row_cells(page, "table-findings", 1)
    assert findings[:2] == ["2", "1"]
    drawn = page.evaluate("() => document.getElementById('chart-findings').chart.data.datasets.map(d => d.data[0])")
    assert drawn == [2, 1]
    hours = round(stored.start_to_approved_seconds / 3600, 2)
    assert row_cells(page, "table-cycle", 1)[3] == str(hours)
    assert page.evaluate("() => document.getElementById('chart-cycle').chart.data.datasets[0].data[0]") == hours
    # No Sentry project: no data in the table, and no bar (null) in the chart.
    assert row_cells(page, "table-escapes", 1)[0] == "no data"
    assert page.evaluate("() => document.getElementById('chart-escapes').chart.data.datasets[0].data[0]") is None
    assert row_cells(page, "table-findings", 2)[:2] == ["no data", "no data"]
    # The formula is on hover.
    title = page.locator("#findings-heading abbr").get_attribute("title")
    assert title.startswith("Findings by the AI reviewer's bot login on a PR: blocking =")

    # Without JavaScript the same numbers are there, as tables.
    context = browser.new_context(java_script_enabled=False)
    try:
        plain = context.new_page()
        log_in(plain, live_server, release_manager, path)
        assert row_cells(plain, "table-findings", 1)[:2] == ["2", "1"]
        assert plain.get_by_role("link", name="Download CSV").is_visible()
    finally:
        context.close()
