from __future__ import annotations

import pytest
from PIL import Image

from batches.models import GateKind
from signoffs.models import ChecklistItem, Evidence, SignOff
from tests.factories import PASSWORD

# The live server needs committed rows, hence transactional tests.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, user, next_url: str) -> None:
    page.goto(f"{live_server.url}/login/?next={next_url}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}{next_url}")


@pytest.fixture
def batch_one(sample_plan, release_manager):
    batch = sample_plan.batches.get(number=1)
    batch.start(by=release_manager)
    return batch


def test_tick_survives_a_reload(page, live_server, batch_one, release_manager):
    item = ChecklistItem.objects.get(gate__batch=batch_one, gate__kind=GateKind.MANUAL)
    log_in(page, live_server, release_manager, batch_one.get_absolute_url())
    row = page.locator(f"#item-{item.pk}")
    row.get_by_label("Note (optional").fill("Dropdown shows 6 expiries")
    row.get_by_role("button", name="Tick", exact=True).click()
    who = page.locator(f"#item-{item.pk}-status .item__who")
    who.get_by_text("Ticked", exact=True).wait_for()
    page.reload()
    assert " ".join(who.inner_text().split()).startswith("Ticked by rita at")
    assert "Dropdown shows 6 expiries" in page.locator(f"#item-{item.pk}-status").inner_text()
    assert SignOff.objects.get(item=item).action == "tick"


def test_uploaded_png_shows_its_thumbnail(page, live_server, batch_one, release_manager, tmp_path):
    """A dashboard screenshot wider than the thumbnail: the row shows the 320 px thumbnail, not the file."""
    item = ChecklistItem.objects.get(gate__batch=batch_one, gate__kind=GateKind.MANUAL)
    shot = tmp_path / "render-dashboard.png"
    Image.new("RGB", (1280, 800), (20, 120, 200)).save(shot, "PNG")
    log_in(page, live_server, release_manager, batch_one.get_absolute_url())
    page.locator(f"#file-{item.pk}").set_input_files(str(shot))
    page.locator(f"#item-{item.pk}").get_by_role("button", name="Upload screenshot").click()
    thumb = page.locator(f"#item-{item.pk} img.thumb")
    thumb.wait_for()
    evidence = Evidence.objects.get(item=item)
    assert thumb.get_attribute("src") == f"/evidence/{evidence.pk}/thumbnail/"
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    assert thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [320, 200]
    assert (evidence.original_name, evidence.width, evidence.height) == ("render-dashboard.png", 1280, 800)


def test_gate_change_elsewhere_appears_without_reload_and_keeps_a_typed_note(
    page, live_server, batch_one, release_manager, engineer
):
    from signoffs.services import signoff_record

    item = ChecklistItem.objects.get(gate__batch=batch_one, gate__kind=GateKind.MANUAL)
    gate = item.gate
    log_in(page, live_server, release_manager, batch_one.get_absolute_url())
    page.evaluate("window.__sameDocument = true")
    note = page.locator(f"#note-{item.pk}")
    note.fill("half-typed")
    gate_row = page.locator(f"#gate-{gate.pk}")
    assert "Passing" not in gate_row.inner_text()
    # An engineer ticks the item in another session: the manual gate passes.
    signoff_record(item=item, user=engineer, action="tick", note="checked on staging")
    gate_row.get_by_text("Passing").wait_for(timeout=5_000)
    assert "1 of 1 item ticked." in page.locator(f"#gate-{gate.pk}").inner_text()
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert note.input_value() == "half-typed"


def test_review_page_fits_a_375px_phone(browser, live_server, batch_one, release_manager):
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    try:
        log_in(page, live_server, release_manager, batch_one.get_absolute_url())
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        context.close()
