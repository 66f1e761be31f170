"""The README's wall dashboard (static/dashboard/): a page that polls a batch's status from the API with a token."""

from __future__ import annotations

import pytest

from batches.models import GateKind
from signoffs.models import ChecklistItem
from signoffs.services import signoff_record
from tokens.services import token_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_wall_dashboard_shows_the_batch_and_follows_changes(page, live_server, sample_plan, release_manager):
    batch = sample_plan.batches.get(number=1)
    batch.start(by=release_manager)
    _, raw = token_create(user=release_manager, name="wall")
    page.goto(f"{live_server.url}/static/dashboard/wall.html#plan={sample_plan.slug}&batch=1&every=5")
    page.get_by_label("Token").fill("gth_wrong")
    page.get_by_role("button", name="Show the batch").click()
    page.get_by_text("The token is not valid").wait_for()
    page.get_by_label("Token").fill(raw)
    page.get_by_role("button", name="Show the batch").click()
    page.locator("#verdict").get_by_text("Not ready").wait_for()
    assert "Batch 1 – " in page.locator("#title").inner_text()
    gates = page.locator("#gates li")
    assert gates.count() == batch.gates.count()
    item = ChecklistItem.objects.filter(gate__batch=batch, gate__kind=GateKind.MANUAL).order_by("pk").first()
    before = page.locator("#blockers").inner_text()
    signoff_record(item=item, user=release_manager, action="tick", note="")
    page.wait_for_function(
        "before => document.getElementById('blockers').innerText !== before", arg=before, timeout=15_000
    )
    # Reloaded, the token is remembered: no form.
    page.reload()
    page.locator("#verdict").get_by_text("Not ready").wait_for()
    assert page.locator("#token-form").is_hidden()
