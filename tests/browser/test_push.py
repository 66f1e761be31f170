"""Push: a tick in one session appears on another open page through its events stream, not its polls.

Served by uvicorn (tests/asgi_server.py): pytest-django's live server is WSGI,
where the stream answers 204 and pages poll every second.
"""

from __future__ import annotations

import time

import pytest

from batches.models import GateKind
from tests.asgi_server import asgi_server
from tests.pages.helpers import client_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _signed_in(browser, base: str, user):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    cookie = client_for(user).cookies["sessionid"].value
    context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
    return context.new_page()


def test_a_tick_in_one_session_appears_on_another_open_page_by_push(
    browser, sample_plan, release_manager, engineer, stakeholder
):
    batch = sample_plan.batches.get(number=1)
    batch.start(by=release_manager)
    item = batch.gates.get(kind=GateKind.MANUAL).items.order_by("pk").first()
    path = f"/plans/{sample_plan.slug}/batches/1/"
    with asgi_server() as base:
        watcher = _signed_in(browser, base, stakeholder)
        polls: list[float] = []
        watcher.on(
            "request", lambda r: polls.append(time.monotonic()) if r.url.startswith(f"{base}{path}?v=") else None
        )
        with watcher.expect_response(lambda r: r.url == f"{base}{path}events/" and r.status == 200):
            watcher.goto(base + path)
        status = watcher.locator(f"#item-{item.pk}-status")
        assert "Ticked" not in status.inner_text()
        # With the stream open, the timed polls (every second) are skipped.
        time.sleep(3)
        assert polls == []

        ticker = _signed_in(browser, base, engineer)
        ticker.goto(base + path)
        ticker.locator(f"#item-{item.pk}").get_by_role("button", name="Tick", exact=True).click()
        ticker.locator(f"#item-{item.pk}-status .item__who").get_by_text("Ticked", exact=True).wait_for()
        ticked = time.monotonic()

        status.locator(".item__who").get_by_text("Ticked", exact=True).wait_for(timeout=5_000)
        seen = time.monotonic() - ticked
        assert len(polls) == 1  # the one the event asked for
        assert seen < 2, f"the tick took {seen:.1f} s to appear"
        ticker.context.close()
        watcher.context.close()
