"""The events stream of a live page (pages/views/events.py): access, WSGI's 204, and the stream under ASGI.

The stream tests drive the view through Django's AsyncClient (an ASGI request)
inside one event loop; the watcher reads the version in a thread of its own, so
they use a transactional database. One test runs a real uvicorn on loopback.
"""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection
from django.test import AsyncClient
from django.urls import reverse

from batches.models import GateKind
from pages import push
from pages.live import read_version
from signoffs.models import ChecklistItem
from signoffs.services import signoff_record
from tests.asgi_server import asgi_server
from tests.pages.helpers import SLUG, client_for

STREAM_TIMEOUT = 10


def events_url(number: int | None = 1, slug: str = SLUG) -> str:
    if number is None:
        return reverse("pages:plan-events", kwargs={"slug": slug})
    return reverse("pages:batch-events", kwargs={"slug": slug, "number": number})


def _item(plan) -> ChecklistItem:
    return ChecklistItem.objects.filter(gate__batch__plan=plan, gate__kind=GateKind.MANUAL).order_by("pk").first()


def _versions(text: str) -> list[str]:
    return re.findall(r"^event: version\ndata: ([0-9a-f]+)$", text, flags=re.MULTILINE)


async def _read_until(stream, done, timeout: float = STREAM_TIMEOUT) -> str:
    """The stream's text until ``done(text)`` holds (or the stream ends)."""
    text = ""

    async def read() -> None:
        nonlocal text
        async for chunk in stream:
            text += chunk.decode() if isinstance(chunk, bytes) else chunk
            if done(text):
                return

    await asyncio.wait_for(read(), timeout)
    return text


def _async_client(user) -> AsyncClient:
    client = AsyncClient()
    client.force_login(user)
    return client


# -- access, and WSGI -----------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(sample_plan):
    response = client_for().get(events_url())
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_signed_in_user_without_a_role_is_refused(sample_plan, outsider):
    assert client_for(outsider).get(events_url()).status_code == 403
    assert client_for(outsider).get(events_url(None)).status_code == 403


@pytest.mark.parametrize("url", [events_url(99), events_url(None, "no-such-plan"), events_url(1, "no-such-plan")])
def test_a_missing_plan_or_batch_is_a_404(sample_plan, stakeholder, url):
    assert client_for(stakeholder).get(url).status_code == 404


def test_post_is_refused(sample_plan, stakeholder):
    assert client_for(stakeholder).post(events_url()).status_code == 405


def test_under_wsgi_the_stream_is_a_204_so_the_page_keeps_polling(sample_plan, stakeholder):
    # Django's test Client is a WSGI request, as under runserver and gunicorn's sync workers.
    for url in (events_url(), events_url(None)):
        response = client_for(stakeholder).get(url)
        assert response.status_code == 204
        assert not response.streaming


def test_the_live_pages_name_their_stream(sample_plan, stakeholder):
    client = client_for(stakeholder)
    for page, url in [
        (reverse("pages:plan", kwargs={"slug": SLUG}), events_url(None)),
        (reverse("pages:batch", kwargs={"slug": SLUG, "number": 1}), events_url()),
        (reverse("pages:present", kwargs={"slug": SLUG, "number": 1}), events_url()),
    ]:
        html = client.get(page).content.decode()
        assert f'data-events="{url}"' in html
        assert 'hx-trigger="every 1s, gatehouse:changed"' in html


# -- the stream, under ASGI -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_stream_sends_the_version_then_each_change_made_by_a_tick(sample_plan, engineer, stakeholder):
    client = _async_client(stakeholder)
    item = _item(sample_plan)

    async def scenario() -> tuple[str, str, str]:
        response = await client.get(events_url())
        assert response.status_code == 200
        assert response["Content-Type"] == "text/event-stream"
        assert response["Cache-Control"] == "no-cache"
        assert response["X-Accel-Buffering"] == "no"
        # The stream holds no database connection while it is open (it would pin one of the pool's).
        # Django never closes an in-memory SQLite database's connection (it would lose the database).
        if not (connection.vendor == "sqlite" and connection.is_in_memory_db()):
            assert await sync_to_async(lambda: connection.connection is None)()
        stream = response.streaming_content
        first = await _read_until(stream, lambda text: len(_versions(text)) == 1)
        before = await sync_to_async(read_version)(slug=SLUG, number=1)
        await sync_to_async(signoff_record)(item=item, user=engineer, action="tick", note="")
        second = await _read_until(stream, lambda text: len(_versions(text)) == 1)
        await stream.aclose()
        return first, second, before[0]

    first, second, before = async_to_sync(scenario)()
    assert first.startswith(f"retry: {push.RECONNECT_MS}\n\n")
    assert _versions(first) == [before]
    assert _versions(second) == [read_version(slug=SLUG, number=1)[0]] != [before]


@pytest.mark.django_db(transaction=True)
def test_the_stream_sends_heartbeats_and_ends_after_its_time(sample_plan, stakeholder, monkeypatch):
    monkeypatch.setattr(push, "HEARTBEAT_SECONDS", 0.1)
    monkeypatch.setattr(push, "STREAM_SECONDS", 0.5)
    client = _async_client(stakeholder)

    async def scenario() -> tuple[str, dict]:
        response = await client.get(events_url(None))
        text = await _read_until(response.streaming_content, lambda text: False)  # to its end
        return text, dict(push.watchers())

    text, left = async_to_sync(scenario)()
    assert _versions(text) == [read_version(slug=SLUG)[0]]  # nothing changed: one version, no repeats
    assert text.count(": heartbeat\n\n") >= 2
    assert left == {}  # its watcher stopped with it


# -- the watcher ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_subscribers_of_a_scope_share_one_watcher_and_its_readings(sample_plan, engineer, monkeypatch):
    reads: list[tuple] = []
    real = read_version

    def counted(**kwargs):
        reads.append((kwargs["slug"], kwargs.get("number")))
        return real(**kwargs)

    monkeypatch.setattr("pages.live.read_version", counted)
    item = _item(sample_plan)

    async def scenario() -> tuple[list[str], list[str], int, int, bool]:
        async with (
            push.version_subscription(slug=SLUG, number=1) as one,
            push.version_subscription(slug=SLUG, number=1) as two,
        ):
            assert len(push.watchers()) == 1
            watcher = push.watchers()[(SLUG, 1)]
            first = [await one.get(), await two.get()]
            await sync_to_async(signoff_record)(item=item, user=engineer, action="tick", note="")
            second = [await asyncio.wait_for(one.get(), 5), await asyncio.wait_for(two.get(), 5)]
            readings = watcher.reads
        stopped_at = len(reads)
        await asyncio.sleep(push.WATCH_SECONDS * 3)
        return first, second, readings, stopped_at, push.watchers() == {}

    first, second, readings, stopped_at, gone = async_to_sync(scenario)()
    assert first[0] == first[1]
    assert second[0] == second[1] != first[0]
    # One reading per round for both subscribers, not one each (one more may have been under way at the end).
    assert readings <= len(reads) <= readings + 1
    assert set(reads) == {(SLUG, 1)}
    assert gone  # stopped with its last subscriber: no reading since
    assert len(reads) == stopped_at


@pytest.mark.django_db(transaction=True)
def test_a_deleted_plan_ends_its_streams(sample_plan, stakeholder):
    client = _async_client(stakeholder)

    async def scenario() -> str:
        response = await client.get(events_url(None))
        stream = response.streaming_content
        text = await _read_until(stream, lambda text: len(_versions(text)) == 1)
        await sync_to_async(sample_plan.delete)()
        return text + await _read_until(stream, lambda text: False)

    assert len(_versions(async_to_sync(scenario)())) == 1


# -- a real ASGI server ---------------------------------------------------------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_under_uvicorn_a_tick_reaches_an_open_stream(sample_plan, engineer, stakeholder):
    client = client_for(stakeholder)
    cookie = client.cookies["sessionid"].value
    item = _item(sample_plan)
    before = read_version(slug=SLUG, number=1)[0]
    with (
        asgi_server() as base,
        httpx.Client(base_url=base, cookies={"sessionid": cookie}, timeout=STREAM_TIMEOUT) as http,
        http.stream("GET", events_url()) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        signoff_record(item=item, user=engineer, action="tick", note="")
        second = next(line for line in lines if line.startswith("data: "))
        response.close()  # the browser leaves the page
        # The server notices the disconnect and the stream's watcher stops with it.
        deadline = time.monotonic() + 5
        while any(push._watchers.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(push._watchers.values())
    assert first == f"data: {before}"
    assert second == f"data: {read_version(slug=SLUG, number=1)[0]}" != first
