"""Browser steps of a stakeholder review, shared by the browser tests that approve a batch."""

from __future__ import annotations


def confirm_checklist(page, attendees: list[str], note: str = "Shown on the projector") -> int:
    """On the review page, confirm every unconfirmed checklist item, taking turns among ``attendees``."""
    rows = page.locator("li.review-item:has(form)")
    count = rows.count()
    for n in range(count):
        row = page.locator("li.review-item:has(form)").first
        item_id = row.get_attribute("id")
        row.get_by_label("Confirmed by").select_option(label=attendees[n % len(attendees)])
        row.get_by_label("Note (what was checked, and how)").fill(f"{note} ({n + 1})")
        row.get_by_role("button", name="Confirm").click()
        page.locator(f"#{item_id} .item__who").get_by_text("Confirmed", exact=True).wait_for()
    return count


def approve_in_review(page, attendees: list[str] | None = None) -> None:
    """From a ready batch's page: open the review, confirm the checklist, approve."""
    page.get_by_role("button", name="Open review").click()
    page.get_by_role("heading", name="Release checklist").wait_for()
    confirm_checklist(page, attendees or [page.locator("#attendees li").first.inner_text()])
    page.reload()  # the decision options are worked out when the page loads
    page.get_by_label("Approve", exact=True).check()
    page.get_by_role("button", name="Record the decision").click()
    page.locator("#lifecycle .badge--approved").wait_for()
