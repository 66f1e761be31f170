"""Push for live pages: a server-sent events stream that says when a page's version moved.

An open page polls its ``live`` partial every second (pages/live.py); with push,
it also holds one events stream open and polls at once when the stream says the
version moved, and otherwise only every ``RECONCILE`` seconds (static/js/gatehouse.js).

Nothing is bumped by writers: the version stays derived from the data. What wakes
the streams is one ``VersionWatcher`` per process and scope (a plan, or a plan's
batch) with subscribers. It reads ``polled_state`` every ``WATCH_SECONDS`` and
hands a new version to each subscriber's queue, so the database sees a few version
queries a second per plan (fewer still with the shared reading in the cache),
however many pages are open, and an idle open page costs the server nothing but a
socket and a heartbeat every ``HEARTBEAT_SECONDS``. The watcher stops with its last
subscriber.

Only an ASGI server can hold a stream without holding a thread; under WSGI
(``runserver``, the test Client) the view answers 204, which tells ``EventSource``
not to reconnect, and the page goes on polling every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import weakref
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connections
from django.http import Http404

from pages import live

logger = logging.getLogger(__name__)

# How often a watcher reads its scope's version: the delay a change adds before it is pushed.
WATCH_SECONDS = 0.25
# A comment line this often, so proxies and load balancers keep an idle stream open.
HEARTBEAT_SECONDS = 15.0
# A stream ends after this long (less up to a tenth); the browser reconnects, and the sign-in and roles
# are checked again.
STREAM_SECONDS = 300.0
# What the browser waits before reconnecting a stream that ended (the SSE ``retry`` field), in ms.
RECONNECT_MS = 1000

type Scope = tuple[str, int | None]
# A queue holds the newest version for one subscriber; None says the scope is gone (plan deleted).
type Inbox = asyncio.Queue[str | None]


def _read(slug: str, number: int | None) -> str | None:
    """The scope's version, in the watcher's own thread; None when the plan or batch no longer exists."""
    # As at a request's start and end: a connection that broke or outlived its age is replaced
    # (with DATABASE_CONN_MAX_AGE=0 it is closed after each reading, as a request's would be).
    close_old_connections()
    try:
        return live.polled_state(slug=slug, number=number)[0]
    except Http404:
        return None
    finally:
        close_old_connections()


class VersionWatcher:
    """Reads one scope's version while anyone listens, and hands each new version to every listener."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.inboxes: set[Inbox] = set()
        self.version: str | None = None
        self.reads = 0
        # Its own thread: the reading's database connection is kept between readings (with
        # DATABASE_CONN_MAX_AGE) and closed when the watcher stops, never left in a shared pool.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"gatehouse-watch-{scope[0]}")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"gatehouse-watch-{self.scope}")

    def subscribe(self) -> Inbox:
        inbox: Inbox = asyncio.Queue(maxsize=1)
        if self.version is not None:
            inbox.put_nowait(self.version)  # a new listener learns the current version at once
        self.inboxes.add(inbox)
        return inbox

    def unsubscribe(self, inbox: Inbox) -> bool:
        """Forget ``inbox``; True when it was the last one and the watcher has stopped."""
        self.inboxes.discard(inbox)
        if self.inboxes:
            return False
        if self._task is not None:
            self._task.cancel()
        # Close the thread's connection in the thread that opened it (connections are per thread).
        self._executor.submit(connections.close_all)
        self._executor.shutdown(wait=False)
        return True

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        slug, number = self.scope
        while self.inboxes:
            try:
                version = await loop.run_in_executor(self._executor, _read, slug, number)
            except Exception:  # the database is away: keep the streams open, try again
                logger.warning("Reading the live version of %s failed", self.scope, exc_info=True)
                await asyncio.sleep(WATCH_SECONDS * 4)
                continue
            self.reads += 1
            if version != self.version or version is None:
                self.version = version
                for inbox in self.inboxes:
                    _replace(inbox, version)
            if version is None:
                return
            await asyncio.sleep(WATCH_SECONDS)


def _replace(inbox: Inbox, version: str | None) -> None:
    """Put ``version`` in the inbox in place of what its reader has not taken yet: only the newest matters."""
    with contextlib.suppress(asyncio.QueueEmpty):
        inbox.get_nowait()
    inbox.put_nowait(version)


# Per event loop (a server has one; tests start several), per scope.
_watchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Scope, VersionWatcher]] = (
    weakref.WeakKeyDictionary()
)


def watchers() -> dict[Scope, VersionWatcher]:
    """This event loop's running watchers, by scope."""
    return _watchers.setdefault(asyncio.get_running_loop(), {})


@contextlib.asynccontextmanager
async def version_subscription(*, slug: str, number: int | None = None) -> AsyncIterator[Inbox]:
    """An inbox of the scope's versions (the current one first), for as long as the block runs."""
    running = watchers()
    watcher = running.get((slug, number))
    if watcher is None:
        watcher = running[(slug, number)] = VersionWatcher((slug, number))
        inbox = watcher.subscribe()
        watcher.start()
    else:
        inbox = watcher.subscribe()
    try:
        yield inbox
    finally:
        if watcher.unsubscribe(inbox) and running.get((slug, number)) is watcher:
            del running[(slug, number)]


async def version_events(*, slug: str, number: int | None = None) -> AsyncIterator[str]:
    """The event stream's text: ``event: version`` on each new version, heartbeats, and an end.

    The first event is the version now; the page compares it with the version it
    shows, so a change between the page's render and the stream's opening is not
    missed. The stream ends after ``STREAM_SECONDS`` (the browser reconnects after
    ``RECONNECT_MS``, and the sign-in is checked again) or when the plan is gone.
    """
    loop = asyncio.get_running_loop()
    # Spread a little, so that pages opened together (after a deploy) do not all reconnect together.
    deadline = loop.time() + STREAM_SECONDS * random.uniform(0.9, 1.0)
    sent: str | None = None
    yield f"retry: {RECONNECT_MS}\n\n"
    async with version_subscription(slug=slug, number=number) as inbox:
        while (remaining := deadline - loop.time()) > 0:
            try:
                version = await asyncio.wait_for(inbox.get(), timeout=min(HEARTBEAT_SECONDS, remaining))
            except TimeoutError:
                if deadline - loop.time() > 0:
                    yield ": heartbeat\n\n"
                continue
            if version is None:
                break
            if version != sent:
                sent = version
                yield f"event: version\ndata: {version}\n\n"
