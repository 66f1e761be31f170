"""The events stream of a live page (pages/push.py): the plan overview's, and a batch's pages'."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from pages import push
from pages.live import polled_state
from portal.roles import denial_reason, user_can


@require_GET
async def plan_events(request: HttpRequest, slug: str) -> HttpResponseBase:
    return await _events(request, slug=slug, number=None)


@require_GET
async def batch_events(request: HttpRequest, slug: str, number: int) -> HttpResponseBase:
    """The stream of the batch's review page and its presenting mode (they share one version)."""
    return await _events(request, slug=slug, number=number)


async def _events(request: HttpRequest, *, slug: str, number: int | None) -> HttpResponseBase:
    # The page's own check (pages.access.require "view"); anonymous requests never get here
    # (LoginRequiredMiddleware redirects them). A missing plan or batch is a 404 before any byte is sent.
    user = await request.auser()
    if not await sync_to_async(user_can)(user, "view"):
        raise PermissionDenied(denial_reason("view"))
    await sync_to_async(polled_state)(slug=slug, number=number)
    if not isinstance(request, ASGIRequest):
        # Under WSGI a stream would hold a worker thread for its whole life. A 204 tells
        # EventSource to stop reconnecting; the page goes on polling every second.
        return HttpResponse(status=204)
    # The request's database connection goes back now, not when the stream ends minutes later:
    # from the pool, a connection per open page would soon leave none for anyone else.
    await sync_to_async(connections.close_all)()
    response = StreamingHttpResponse(push.version_events(slug=slug, number=number), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a buffering proxy (nginx) would hold the events back
    return response
