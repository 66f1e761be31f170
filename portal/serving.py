"""One ASGI application for the web process: async views through Django's ASGI handler, the rest as WSGI.

Push needs an ASGI server: an events stream (pages/push.py) must stay open without
holding a thread. But Django's ASGI handler costs every ordinary request several
hops between the event loop and a thread made for that request (a sync middleware
chain, each ``process_view``, the view), and it showed: under uvicorn a 204 poll
cost 4.5 ms of server CPU against 1.2 ms under gunicorn's sync workers, and the
pages served a third as many requests (bench/production.py). So the web process
routes by the view: an async view (the events streams) goes to Django's ASGI
handler; every other request runs Django's WSGI handler, as gunicorn's sync workers
would, in a small pool of long-lived threads, with one hop there and back.

Why not a library: asgiref's ``WsgiToAsgi`` fails under load ("CurrentThreadExecutor
already quit"), and a2wsgi's ``WSGIMiddleware`` (tried, measured A/B on
bench/production.py's plan, gunicorn -w 3, wrk -c 20) served an unchanged poll at
327 req/s, 5.2 ms of server CPU each, against 756 req/s and 2.3 ms for this bridge.
"""

from __future__ import annotations

import asyncio
import functools
import io
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from inspect import iscoroutinefunction
from typing import Any

from asgiref.wsgi import WsgiToAsgiInstance
from django.urls import Resolver404, resolve

type Scope = dict[str, Any]
type ASGIApp = Callable[..., Any]
_END = object()
# How long a request's next piece of body may take to arrive.
BODY_WAIT_SECONDS = 60


class WSGIInThreads:
    """A WSGI application served to an ASGI server: each request runs in one of ``threads`` threads."""

    def __init__(self, application: Callable[..., Iterable[bytes]], *, threads: int) -> None:
        self.application = application
        self.threads = threads
        self._executor: ThreadPoolExecutor | None = None  # made in the worker process, not before a fork

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="gatehouse-wsgi")
        loop = asyncio.get_running_loop()
        # The body is read from the server as Django reads it, in the thread: a request that
        # RequestBodyGuardMiddleware refuses from its headers (too large, a stranger's) is never
        # received, as under gunicorn's sync workers.
        body = _Body(receive, loop)
        translator = WsgiToAsgiInstance(None)
        translator.scope = scope
        environ = translator.build_environ(scope, body)
        started: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = [(k.lower().encode("latin1"), v.encode("latin1")) for k, v in headers]

        def run() -> tuple[Iterable[bytes], Iterator[bytes], object]:
            result = self.application(environ, start_response)
            chunks = iter(result)
            return result, chunks, next(chunks, _END)

        running = loop.run_in_executor(self._executor, run)
        try:
            result, chunks, chunk = await asyncio.shield(running)
        except asyncio.CancelledError:
            # The server is stopping: the response still gets closed, so that its request
            # finishes (request_finished gives its database connection back to the pool).
            running.add_done_callback(self._close_when_done)
            raise
        try:
            await send({"type": "http.response.start", "status": started["status"], "headers": started["headers"]})
            if chunk is _END:
                await send({"type": "http.response.body", "body": b""})
            while chunk is not _END:
                # Most responses are one chunk; a file download is read in the thread, chunk by chunk.
                following = await loop.run_in_executor(self._executor, next, chunks, _END)
                await send({"type": "http.response.body", "body": chunk, "more_body": following is not _END})
                chunk = following
        finally:
            # Django's request_finished (and so giving back the database connection) runs on close.
            if close := getattr(result, "close", None):
                await loop.run_in_executor(self._executor, close)

    def _close_when_done(self, running: asyncio.Future) -> None:
        if not running.cancelled() and running.exception() is None and self._executor is not None:
            if close := getattr(running.result()[0], "close", None):
                self._executor.submit(close)

    def shutdown(self) -> None:
        """Wait for the requests under way (tests: before their database is dropped)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


class _Body(io.RawIOBase):
    """``wsgi.input``: the request's body, taken from the ASGI server as the WSGI application reads it."""

    def __init__(self, receive: Callable, loop: asyncio.AbstractEventLoop) -> None:
        self._receive, self._loop = receive, loop
        self._buffer = bytearray()
        self._more = True

    def readable(self) -> bool:
        return True

    def _pull(self) -> None:
        try:
            message = asyncio.run_coroutine_threadsafe(self._receive(), self._loop).result(timeout=BODY_WAIT_SECONDS)
        except TimeoutError:
            message = {"type": "http.disconnect"}  # a client that sends nothing for so long has gone
        if message["type"] != "http.request":
            self._more = False  # the client left: what was sent is all there is
            return
        self._buffer += message.get("body", b"")
        self._more = bool(message.get("more_body"))

    def read(self, size: int | None = -1) -> bytes:
        while self._more and (size is None or size < 0 or len(self._buffer) < size):
            self._pull()
        size = len(self._buffer) if size is None or size < 0 else size
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        return chunk

    def readline(self, size: int | None = -1) -> bytes:
        while self._more and b"\n" not in self._buffer and (size is None or size < 0 or len(self._buffer) < size):
            self._pull()
        end = self._buffer.find(b"\n") + 1 or len(self._buffer)
        if size is not None and size >= 0:
            end = min(end, size)
        return self.read(end)


class ByView:
    """Send each HTTP request to ``asgi`` when its view is async, else to ``wsgi``."""

    def __init__(self, *, asgi: ASGIApp, wsgi: ASGIApp) -> None:
        self.asgi = asgi
        self.wsgi = wsgi

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and not _async_view(scope["path"]):
            await self.wsgi(scope, receive, send)
        else:
            await self.asgi(scope, receive, send)


@functools.lru_cache(maxsize=2048)
def _async_view(path: str) -> bool:
    try:
        return iscoroutinefunction(resolve(path).func)
    except Resolver404:
        return False
