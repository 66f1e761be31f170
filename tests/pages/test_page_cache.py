"""Whole live pages are rendered once per version and viewer (pages.live.versioned_page).

What must hold: an unchanged page is served without a render; any change moves the
version and so the page; each viewer's page is their own (roles, name, CSRF token,
messages); and whoever just changed something sees it on their very next page,
even while other viewers share a reading of the version.
"""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.middleware import WROTE_COOKIE
from signoffs.services import signoff_record
from tests.factories import UserFactory
from tests.pages.helpers import client_for, page_text


def signoff_url(item) -> str:
    return reverse("pages:item-signoff", kwargs={"pk": item.pk})


def without_tokens(response) -> str:
    """The page's text with each CSRF token (masked afresh on every response) blanked."""
    return re.sub(r'(csrfmiddlewaretoken" value=|"X-CSRFToken": )"[^"]+"', r"\1", page_text(response))


def pages_of(batch) -> list[str]:
    slug = batch.plan.slug
    return [
        batch.get_absolute_url(),
        reverse("pages:present", kwargs={"slug": slug, "number": batch.number}),
        reverse("pages:plan", kwargs={"slug": slug}),
        reverse("pages:roadmap", kwargs={"slug": slug}),
        reverse("pages:plan-metrics", kwargs={"slug": slug}),
    ]


@pytest.mark.parametrize("page", range(5))
def test_an_unchanged_page_is_served_again_without_a_render_or_a_query(item, engineer, page):
    url = pages_of(item.gate.batch)[page]
    client = client_for(engineer)
    first = client.get(url)
    assert first.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        again = client.get(url)
    assert again.status_code == 200
    assert again.templates == []  # nothing rendered
    assert len(queries) == 1  # the version (the tests read it afresh every time)
    assert without_tokens(again) == without_tokens(first)


def test_a_change_made_elsewhere_moves_the_cached_page(item, engineer, release_manager):
    url = item.gate.batch.get_absolute_url()
    viewer = client_for(release_manager)
    before = viewer.get(url).content.decode()
    assert "Seen on the dashboard" not in before
    signoff_record(item=item, user=engineer, action="tick", note="Seen on the dashboard")
    after = viewer.get(url).content.decode()
    assert "Seen on the dashboard" in after


def test_whoever_ticks_sees_it_on_their_next_page_and_shares_that_reading(item, engineer, settings):
    settings.LIVE_VERSION_CACHE_MS = 60_000  # a reading of the version is shared for a minute
    url = item.gate.batch.get_absolute_url()
    client = client_for(engineer)
    other = client_for(UserFactory(username="olga", role="engineer"))
    assert "Checked on staging" not in client.get(url).content.decode()
    assert "Checked on staging" not in other.get(url).content.decode()
    before = time.time()
    tick = client.post(signoff_url(item), {"action": "tick", "note": "Checked on staging"})
    assert tick.status_code == 302
    assert tick.cookies[WROTE_COOKIE]["max-age"] == 2
    assert before * 1000 - 1 <= int(tick.cookies[WROTE_COOKIE].value) <= time.time() * 1000 + 1
    # The shared reading is older than the write: the writer's next page reads the version afresh...
    with CaptureQueriesContext(connection) as queries:
        assert "Checked on staging" in client.get(url).content.decode()
    assert any("live_0_0" in query["sql"] for query in queries)
    # ...and shares that reading: the others see the change too, and the writer's following pages
    # (the marker lasts two seconds) take it from the cache instead of reading again.
    assert "Checked on staging" in other.get(url).content.decode()
    with CaptureQueriesContext(connection) as queries:
        assert "Checked on staging" in client.get(url).content.decode()
    assert not any("live_0_0" in query["sql"] for query in queries)


def test_a_forged_marker_costs_its_sender_a_fresh_reading_and_nothing_else(item, engineer, settings):
    settings.LIVE_VERSION_CACHE_MS = 60_000
    url = item.gate.batch.get_absolute_url()
    client = client_for(engineer)
    client.get(url)
    for forged in (str(int(time.time() * 1000) + 10**9), "not-a-time"):
        client.cookies[WROTE_COOKIE] = forged
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        assert sum("live_0_0" in query["sql"] for query in queries) == 1


def test_a_refused_write_sets_no_marker(item, stakeholder):
    response = client_for(stakeholder).post(signoff_url(item), {"action": "tick", "note": ""})
    assert response.status_code == 403
    assert WROTE_COOKIE not in response.cookies


def test_a_page_with_a_message_is_the_viewers_own_and_shows_it(item, engineer):
    url = item.gate.batch.get_absolute_url()
    client = client_for(engineer)
    client.get(url)  # cached, without a message
    response = client.post(signoff_url(item), {"action": "tick", "note": "Looks right"}, follow=True)
    messages = re.findall(r'<p class="message[^"]*"[^>]*>([^<]+)</p>', response.content.decode())
    assert messages, "the tick's confirmation is shown"
    # Shown once: the next view of the same version is the cached page, without it.
    again = client.get(url).content.decode()
    assert not re.findall(r'<p class="message[^"]*"[^>]*>([^<]+)</p>', again)


def test_each_viewer_gets_their_own_name_roles_and_csrf_token(item, engineer, stakeholder):
    url = item.gate.batch.get_absolute_url()
    pages = {}
    for user in (engineer, stakeholder, UserFactory(username="erin", role="engineer")):
        client = client_for(user, csrf=True)
        html = client.get(url).content.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)[1]
        pages[user.username] = (client, html, token)
    assert len({token for _, _, token in pages.values()}) == 3
    for name, (_, html, _) in pages.items():
        assert f"<span>{name}</span>" in html
        assert "gatehouse-csrf-placeholder" not in html
    assert 'value="tick"' in pages["erin"][1]
    assert 'value="tick"' not in pages["stan"][1]
    client, _, token = pages["erin"]
    assert client.post(signoff_url(item), {"action": "tick", "csrfmiddlewaretoken": token}).status_code == 302


def test_a_new_role_shows_on_the_next_page(item, stakeholder):
    url = item.gate.batch.get_absolute_url()
    client = client_for(stakeholder)
    assert 'value="tick"' not in client.get(url).content.decode()
    stakeholder.groups.add(Group.objects.get(name="engineer"))
    assert 'value="tick"' in client.get(url).content.decode()


def test_without_a_page_cache_every_view_renders(item, engineer, settings):
    settings.PAGE_CACHE_SECONDS = 0
    url = item.gate.batch.get_absolute_url()
    client = client_for(engineer)
    client.get(url)
    assert client.get(url).templates != []


def test_threads_asking_for_the_same_new_render_render_it_once(db):
    import threading
    import time

    from pages.live import _render_once

    renders = []

    def render() -> str:
        renders.append(1)
        time.sleep(0.05)  # long enough for the others to arrive while it renders
        return "<p>page</p>"

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(_render_once("test:once", render, timeout=5))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["<p>page</p>"] * 4
    assert len(renders) == 1


@pytest.mark.services
def test_another_process_rendering_the_same_page_is_waited_for_not_repeated(db):
    """A render claimed in Redis by another process: this one waits for it, and renders only if it never comes."""
    import threading

    import redis
    from django.conf import settings
    from django.core.cache import cache

    from pages.live import _render_once

    renders = []

    def render() -> str:
        renders.append(1)
        return "<p>mine</p>"

    # Another process has claimed the render of this key and stores it in Redis 0.1 s later.
    cache.add("test:elsewhere:rendering", 1, timeout=5)
    other_process = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    stored = (cache.make_and_validate_key("test:elsewhere"), cache._cache._serializer.dumps("<p>theirs</p>"))
    threading.Timer(0.1, lambda: other_process.set(*stored, ex=5)).start()
    assert _render_once("test:elsewhere", render, timeout=5) == "<p>theirs</p>"
    assert renders == []
    # A claimer that never delivers holds this one up for RENDER_WAIT_SECONDS, then it renders.
    cache.add("test:never:rendering", 1, timeout=5)
    assert _render_once("test:never", render, timeout=5) == "<p>mine</p>"
    assert renders == [1]
    # Nobody rendering: the first to ask claims it, renders, and releases the claim.
    assert _render_once("test:free", render, timeout=5) == "<p>mine</p>"
    assert cache.get("test:free:rendering") is None


def test_while_a_new_version_renders_a_viewer_gets_the_newest_render_at_once():
    """_render_once with ``latest``: no waiting behind someone else's render, but never a stale render kept
    under the new version's key; without ``latest`` (a viewer who has just written) the render is awaited."""
    import threading

    from pages.live import _render_once

    assert _render_once("page:v1", lambda: "v1", timeout=60, latest="page:latest") == "v1"
    rendering, release = threading.Event(), threading.Event()

    def slow() -> str:
        rendering.set()
        release.wait(5)
        return "v2"

    results: dict[str, str] = {}
    renderer = threading.Thread(
        target=lambda: results.setdefault("renderer", _render_once("page:v2", slow, timeout=60, latest="page:latest"))
    )
    renderer.start()
    assert rendering.wait(5)
    started = time.monotonic()
    assert _render_once("page:v2", lambda: pytest.fail("rendered twice"), timeout=60, latest="page:latest") == "v1"
    assert time.monotonic() - started < 0.5
    writer = threading.Thread(target=lambda: results.setdefault("writer", _render_once("page:v2", slow, timeout=60)))
    writer.start()
    writer.join(0.3)
    assert writer.is_alive()  # the writer waits for the new render...
    release.set()
    renderer.join(5)
    writer.join(5)
    assert results == {"renderer": "v2", "writer": "v2"}  # ...and gets it, rendered once
    assert _render_once("page:v2", lambda: pytest.fail("rendered again"), timeout=60) == "v2"
    assert _render_once("page:v3", lambda: "v3", timeout=60, latest="page:latest") == "v3"
