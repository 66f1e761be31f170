"""Pages that follow changes made elsewhere: htmx polls their ``live`` partial every second.

What makes a poll cheap is the version: a digest of a handful of aggregates over
the tables the live regions show, read in ONE query of indexed scalar subqueries
and rendering nothing. It is derived from the data, so no writer has to remember
to bump anything:

- append-only tables (gate events, batch events, sign-offs, evidence) change their
  newest id and their row count on every insert. The count matters: two
  transactions can commit in the other order than their ids were handed out, and
  the later commit of the smaller id still changes the count;
- rows that are updated in place carry the time of each write that changes what
  they show (a batch's ``updated_at``, a gate's and a PR's ``changed_at``: a sync
  that finds nothing new leaves them, so an idle poll of GitHub re-renders no
  page), and the plan's ``updated_at`` moves on every re-import and settings change;
- what changes without a timestamp is counted: linked PRs (and the sum of their
  numbers, for a re-link), waived gates, evidence with a thumbnail.

A new table that a live region shows joins ``LIVE_SOURCES`` (one line), and the
tests in ``tests/pages/test_live.py`` drive every writer through the product's own
actions to check the version moves.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection, models
from django.db.backends.utils import CursorWrapper
from django.db.models import Count, Max, OuterRef, Q, Subquery, Sum
from django.http import Http404, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.functional import SimpleLazyObject
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django_htmx.http import HttpResponseStopPolling

from batches.models import Batch, BatchEvent, BatchState, Gate, GateEvent, Plan, PlannedPR
from metrics.models import BatchMetrics
from pages.access import HtmxHttpRequest
from portal.cache import CACHE_ERRORS
from portal.middleware import WROTE_COOKIE
from portal.roles import user_roles
from reviews.models import (
    FollowUp,
    ReleaseCheckRevision,
    ReviewAttendee,
    ReviewConfirmation,
    ReviewDecision,
    ReviewSession,
)
from signoffs.models import Evidence, SignOff

POLL_SECONDS = 1
# How a live partial marks its regions for an out-of-band swap: ``{% if oob %}`` + this.
OOB_ATTRIBUTE = ' hx-swap-oob="true"'
# Rendered live regions are cached per version and role set, with this in place of the
# viewer's CSRF token (swapped in on the way out), so every viewer with the same roles
# shares one render of an unchanged plan.
CSRF_PLACEHOLDER = "gatehouse-csrf-placeholder-7f3a"
# Likewise the viewer's name in a whole page's header (base.html's ``viewer_name``): a page is
# rendered once per role set, and each viewer's name goes in on the way out.
NAME_PLACEHOLDER = "gatehouse-viewer-name-placeholder-7f3a"


# How much of a source a batch page's version reads (``read_version(number=...)``).
OWN, NEIGHBOURS, WHOLE_PLAN = "own", "neighbours", "plan"


@dataclass(frozen=True)
class LiveSource:
    """A table whose rows some live region shows, how to reach its batch, and what moves on a write.

    ``in_batch`` says which of its rows a batch's pages show: the batch's ``OWN``; its
    own and its predecessor's (``NEIGHBOURS``: the predecessor's gates hold a start);
    or the ``WHOLE_PLAN``'s, for what is plan-wide (every batch's state in the
    navigation, an override recorded on a later batch, the release checklist).
    """

    model: type[models.Model]
    to_batch: str  # lookup path from the model to its Batch; "" for Batch itself
    aggregates: tuple[models.Aggregate, ...]
    to_plan: str = ""  # for rows that belong to the plan, not to a batch: the lookup path to its Plan
    in_batch: str = OWN

    @property
    def plan_path(self) -> str:
        if self.to_plan:
            return self.to_plan
        return f"{self.to_batch}__plan" if self.to_batch else "plan"


LIVE_SOURCES: list[LiveSource] = [
    LiveSource(Batch, "", (Max("updated_at"), Count("pk")), in_batch=WHOLE_PLAN),
    LiveSource(BatchEvent, "batch", (Max("pk"), Count("pk")), in_batch=WHOLE_PLAN),
    LiveSource(PlannedPR, "batch", (Max("changed_at"), Count("github_number"), Sum("github_number"))),
    LiveSource(Gate, "batch", (Max("changed_at"), Count("pk"), Count("waived_at")), in_batch=NEIGHBOURS),
    LiveSource(GateEvent, "gate__batch", (Max("pk"), Count("pk"))),
    LiveSource(SignOff, "item__gate__batch", (Max("pk"), Count("pk"))),
    LiveSource(Evidence, "item__gate__batch", (Max("pk"), Count("pk"), Count("pk", filter=~Q(thumbnail="")))),
    # The stakeholder review, shown live on the batch page and in presenting mode.
    LiveSource(ReviewSession, "batch", (Max("pk"), Count("pk"))),
    LiveSource(ReviewAttendee, "session__batch", (Max("pk"), Count("pk"))),
    LiveSource(ReviewConfirmation, "session__batch", (Max("pk"), Count("pk"))),
    LiveSource(ReviewDecision, "session__batch", (Max("pk"), Count("pk"))),
    LiveSource(FollowUp, "decision__session__batch", (Max("pk"), Count("pk"))),
    LiveSource(
        ReleaseCheckRevision, "", (Max("pk"), Count("pk")), to_plan="item__checklist__plan", in_batch=WHOLE_PLAN
    ),
    # The metrics page: each batch's stored row, rewritten on every recompute.
    LiveSource(BatchMetrics, "batch", (Max("computed_at"), Count("pk"))),
]


def _subqueries(*, in_batch: bool) -> dict[str, Subquery]:
    """One scalar subquery per aggregate: over the plan's rows, or (``in_batch``) what a batch's pages show.

    The outer row is the plan, or the batch. A batch's scope reads a few dozen rows
    where the plan's reads every gate, item and sign-off of up to 100 batches: the
    version of a batch page costs the same whatever the plan's size, and a change in
    an unrelated batch leaves its pages alone.
    """
    subqueries = {}
    for i, source in enumerate(LIVE_SOURCES):
        manager = source.model._default_manager
        plan = source.plan_path
        if not in_batch:
            rows = manager.filter(**{plan: OuterRef("pk")}).order_by().values(plan)
        elif source.in_batch == WHOLE_PLAN:
            within = manager.filter(**{plan: OuterRef("plan_id")})
            rows = within.order_by().values(plan)
        elif source.in_batch == NEIGHBOURS:
            previous = (
                Batch.objects.filter(plan_id=OuterRef(OuterRef("plan_id")), number__lt=OuterRef(OuterRef("number")))
                .order_by("-number")
                .values("pk")[:1]
            )
            within = manager.filter(Q(**{source.to_batch: OuterRef("pk")}) | Q(**{source.to_batch: Subquery(previous)}))
            rows = within.order_by().values(plan)  # both batches are the plan's: one group
        else:
            rows = manager.filter(**{source.to_batch: OuterRef("pk")}).order_by().values(source.to_batch)
        for j, aggregate in enumerate(source.aggregates):
            subqueries[f"live_{i}_{j}"] = Subquery(rows.annotate(value=aggregate).values("value"))
    return subqueries


def _digest(values: tuple) -> str:
    return hashlib.blake2b(repr(values).encode(), digest_size=8).hexdigest()


# Placeholders in the compiled query. Not a negative number: the ORM knows a positive
# integer field cannot equal one and compiles the subquery away to NULL.
_SLUG, _NUMBER = "\x00gatehouse-live-slug", 2_100_000_007


@functools.cache
def _compiled(vendor: str, with_batch: bool) -> tuple:
    """The version query compiled once per process: building its subqueries costs ~20 ms of CPU.

    The plan's version is a row of the plan; a batch's (``with_batch``) a row of the
    batch, with its state, which a poll of presenting mode needs too.
    """
    subqueries = _subqueries(in_batch=with_batch)
    query: models.QuerySet
    if with_batch:
        query = Batch.objects.filter(plan__slug=_SLUG, number=_NUMBER).annotate(**subqueries)
        names = ["plan__updated_at", *subqueries, "state"]
    else:
        query = Plan.objects.filter(slug=_SLUG).annotate(**subqueries)
        names = ["updated_at", *subqueries]
    compiler = query.values_list(*names).query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    # The same converters the ORM applies: values as the models hold them (datetimes, not strings).
    converters = compiler.get_converters([column[0] for column in compiler.select[: compiler.col_count]])
    return compiler, sql, tuple(params), converters


def _version_cursor() -> CursorWrapper:
    """A cursor for the version query: on PostgreSQL with kept connections, one that prepares it.

    Planning the query's two dozen subqueries costs PostgreSQL as much as running
    them, and every page and poll asks it: prepared, it is planned once per
    connection (a generic plan after five custom ones), which halves it (22 ms to
    10.5 ms on the 50-batch plan). Django leaves prepared statements off so that
    poolers in transaction mode work; this prepares only this query, and only where
    connections are kept (``DATABASE_CONN_MAX_AGE``; behind PgBouncer in transaction
    mode it is 0, and a statement prepared on a connection used once would be waste), or
    pooled (``DATABASE_POOL``, under ASGI: a pooled connection outlives the request).
    Django's client-side binding cursors never prepare, so nothing else changes. The
    cursor goes through Django's wrapper: it is counted and logged like any other.
    """
    kept = connection.settings_dict.get("CONN_MAX_AGE") or connection.settings_dict["OPTIONS"].get("pool")
    if connection.vendor != "postgresql" or not kept:
        return connection.cursor()
    import psycopg

    class PreparedCursor(psycopg.Cursor):
        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:  # None turns preparing off altogether, even when asked for
        raw.prepare_threshold = 2**31 - 1  # never by itself: only what asks (prepare=True)
    return connection._prepare_cursor(PreparedCursor(raw))  # type: ignore[attr-defined]


def read_version(*, slug: str, number: int | None = None) -> tuple[str, str | None]:
    """(version, batch state) of a plan's live data, in one query; 404 when the plan or batch is missing.

    Without ``number``, the whole plan's (the overview, the roadmap, metrics). With
    it, what that batch's pages show (``LiveSource.in_batch``): its own rows, its
    predecessor's gates (they hold a start), and the plan-wide rows every page
    shows (the batches' states, overrides noted on a neighbour, the release
    checklist). On the 50-batch plan that is about 1 ms, where the plan's is 7 ms.
    """
    compiler, sql, params, converters = _compiled(connection.vendor, number is not None)
    bound = [slug if p == _SLUG else number if p == _NUMBER else p for p in params]
    with _version_cursor() as cursor:
        cursor.execute(sql, bound)
        rows = cursor.fetchall()
    if converters:
        rows = list(compiler.apply_converters(rows, converters))
    if not rows:
        raise Http404("No such plan or batch.")
    row = tuple(rows[0])
    if number is None:
        return _digest(row), None
    return _digest(row[:-1]), row[-1]


def _local():
    """This process's own cache in front of Redis, or None when the default cache is already local.

    What pages.live keeps is addressed by version (a rendered page or region of one
    version never changes), or is a reading that is only good for a fraction of a
    second: a process may keep its own copy. It saves a Redis round trip (and
    Redis's own CPU) on nearly every page view and poll.
    """
    if "local" not in settings.CACHES or isinstance(caches["default"], LocMemCache):
        return None
    return caches["local"]


def _cache_get(key: str, *, timeout: int):
    """This process's copy, else the shared cache's (kept locally for ``timeout``)."""
    local = _local()
    if local is not None and (value := local.get(key)) is not None:
        return value
    value = _shared_get(key)
    if local is not None and value is not None:
        local.set(key, value, timeout=timeout)
    return value


def _shared_get(key: str):
    return cache.get(key)  # with Redis away, a miss (portal/cache.py): pages are rendered, only slower


def _cache_set(key: str, value: object, timeout: int) -> None:
    if (local := _local()) is not None:
        local.set(key, value, timeout=timeout)
    cache.set(key, value, timeout=timeout)


_render_locks: dict[str, threading.Lock] = {}
_render_locks_guard = threading.Lock()


# How long a request waits for another process's render of the same page before rendering it itself.
RENDER_WAIT_SECONDS = 2.0


def _render_once(key: str, render: Callable[[], str], *, timeout: int, latest: str | None = None) -> str:
    """The cached render under ``key``, or a new one, rendered once however many ask at the same moment.

    When the version moves, every open page's next poll and view asks for the new
    render at once, in every web process; each would render it, all competing for
    the same cores. Within a process the other threads wait on a lock; across
    processes the first claims the render in the shared cache (``add``, atomic on
    Redis) and the others wait for it there, up to ``RENDER_WAIT_SECONDS``, then
    render it themselves (a claimer that died holds nobody up for longer).

    ``latest`` names where the newest render of the same page (any version) is
    kept. With it, a request that would wait for someone else's render gets that
    newest one at once instead: the page as it was a moment before the change,
    whose poller then asks for the change like any open page's (measured under
    bench/load_faults.py: the waits were the review page's p95). Only for viewers
    who have not just written: their own change must be on their next page.
    """
    html = _cache_get(key, timeout=timeout)
    if html is not None:
        return html
    with _render_locks_guard:
        lock = _render_locks.setdefault(key, threading.Lock())
    if not lock.acquire(blocking=False):
        if latest is not None and (newest := _shared_get(latest)) is not None:
            return newest
        lock.acquire()
    try:
        html = _cache_get(key, timeout=timeout) or _rendered_elsewhere(key, timeout=timeout, latest=latest)
        if html is None:
            html = render()
            _cache_set(key, html, timeout)
            if latest is not None:  # shared only: a process's own copy could be older than what a viewer saw
                cache.set(latest, html, timeout=timeout)
            _release_claim(key)
    finally:
        lock.release()
        with _render_locks_guard:
            _render_locks.pop(key, None)
    return html


def _rendered_elsewhere(key: str, *, timeout: int, latest: str | None = None) -> str | None:
    """Another process's render of ``key`` if one is under way and ends in time (or, with ``latest``, the
    newest render there is, at once); None: render it here."""
    if _local() is None:  # one process's cache: the lock above is all there is
        return None
    try:
        if cache.add(f"{key}:rendering", 1, timeout=int(RENDER_WAIT_SECONDS) + 1):
            return None  # claimed: this process renders it
    except CACHE_ERRORS:
        return None  # the shared cache is away: render here
    if latest is not None and (newest := _shared_get(latest)) is not None:
        return newest
    deadline = time.monotonic() + RENDER_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.01)
        if (html := _shared_get(key)) is not None:
            if (local := _local()) is not None:
                local.set(key, html, timeout=timeout)
            return html
    return None


def _release_claim(key: str) -> None:
    if _local() is not None:
        cache.delete(f"{key}:rendering")  # with Redis away, skipped: the claim expires by itself


def polled_state(*, slug: str, number: int | None = None, since: float | None = None) -> tuple[str, str | None]:
    """(version, batch state) for a poll or a page: one cache read while the last reading is fresh enough.

    Two hundred open pages poll two hundred times a second; within
    ``LIVE_VERSION_CACHE_MS`` they share one reading of the version, so the
    database sees a few version queries a second per plan, not one per poll.
    The reading is taken before any page that uses it is rendered, so a page can
    be newer than its version (the next poll then re-renders), never older.

    ``since`` (a time.time()) asks for a reading started after that moment, for a
    browser that has just written: an older one is replaced by a fresh reading,
    which every other viewer then shares.
    """
    key = f"gatehouse:live:{slug}:{number}"
    max_age = settings.LIVE_VERSION_CACHE_MS / 1000
    started = time.time()
    if max_age:
        # A reading's age counts from when it was taken, wherever it was copied to since.
        local = _local()
        cached = local.get(key) if local is not None else None
        if not _good(cached, started, max_age, since):
            cached = _shared_get(key)
            if local is not None and cached:
                local.set(key, cached, timeout=60)
        if cached is not None and _good(cached, started, max_age, since):
            return cached[1], cached[2]
    version, batch_state = read_version(slug=slug, number=number)
    if max_age:
        _cache_set(key, (started, version, batch_state), timeout=60)
    return version, batch_state


def _good(reading: tuple | None, now: float, max_age: float, since: float | None) -> bool:
    """Whether a shared reading (started, version, state) is young enough, and taken after ``since``."""
    if not reading or now - reading[0] >= max_age:
        return False
    return since is None or reading[0] >= since


def _state(request: HtmxHttpRequest, *, slug: str, number: int | None, fresh: bool = False) -> tuple[str, str | None]:
    """The shared reading; for a browser that has just written (``WROTE_COOKIE``), one taken after its write.

    ``fresh`` asks for a reading taken now (a page showing a message, which is often
    the write's own confirmation); like the writer's, it is shared with everyone.
    """
    now = time.time()
    wrote = request.COOKIES.get(WROTE_COOKIE)
    if fresh or wrote is None:
        return polled_state(slug=slug, number=number, since=now if fresh else None)
    try:
        since = min(int(wrote) / 1000, now)  # a forged future time only costs its sender a query
    except ValueError:
        since = now
    return polled_state(slug=slug, number=number, since=since)


def _has_messages(request: HtmxHttpRequest) -> bool:
    """Whether a message waits to be shown: such a page is the viewer's own, never cached or served from the cache."""
    return len(get_messages(request)) > 0


def versioned_page(
    request: HtmxHttpRequest,
    template: str,
    *,
    slug: str,
    number: int | None = None,
    context: Callable[[Plan], dict],
) -> HttpResponse:
    """A whole page, rendered once per version of its plan and per role set, then served from the cache.

    The key is the version (``polled_state``: no render, and within
    ``LIVE_VERSION_CACHE_MS`` not even a query), the template, the full path and
    what of the viewer a page shows: their roles (their buttons, "next for you")
    and staff flag (the admin link). Everything else a page shows is the plan's
    live data, which the version covers. The viewer's name and CSRF token go in on
    the way out, and a page with a message to show is rendered for that one
    request. ``PAGE_CACHE_SECONDS`` bounds what only the clock moves ("synced 3
    minutes ago").
    """
    messages_waiting = _has_messages(request)
    version, _ = _state(request, slug=slug, number=number, fresh=messages_waiting)
    user = request.user
    viewer = f"{int(user.is_staff)}:{','.join(sorted(user_roles(user)))}"
    key = "gatehouse:page:" + _digest((template, request.get_full_path(), version, viewer))
    # This page's newest render, of whatever version, for a viewer who need not wait for the next one.
    wrote = messages_waiting or WROTE_COOKIE in request.COOKIES
    latest = None if wrote else "gatehouse:page-latest:" + _digest((template, request.get_full_path(), viewer))

    def render() -> str:
        plan = cast(Plan, SimpleLazyObject(lambda: get_object_or_404(Plan, slug=slug)))
        page = {**context(plan), "version": version, "poll_seconds": POLL_SECONDS}
        if "live_html" in page:
            # The template shows its live region from here when it is already rendered.
            page["live_html"] = live_html(
                request, template, page, slug=slug, number=number, version=version, with_token=False
            )
        return render_to_string(
            template, {**page, "csrf_token": CSRF_PLACEHOLDER, "viewer_name": NAME_PLACEHOLDER}, request=request
        )

    if settings.PAGE_CACHE_SECONDS and not messages_waiting:
        html = _render_once(key, render, timeout=settings.PAGE_CACHE_SECONDS, latest=latest)
    else:
        html = render()
    html = html.replace(CSRF_PLACEHOLDER, get_token(request)).replace(NAME_PLACEHOLDER, escape(user.get_username()))
    return _uncached(HttpResponse(html))


def live_response(
    request: HtmxHttpRequest,
    template: str,
    *,
    slug: str,
    number: int | None = None,
    context: Callable[[Plan], dict],
    stop_when_approved: bool = False,
) -> HttpResponse:
    """A page (``versioned_page``), or for an htmx poll its ``live`` partial of out-of-band status regions.

    The poller sends the version of what it shows. An unchanged version is a 204
    (htmx swaps nothing, nothing flickers) that costs the access check and one
    cache read (``polled_state``): ``context`` (given the plan) is only called when
    something is rendered. The version is read before the context, so a page is
    never older than its version.
    Inputs (notes, file pickers, reasons) are never inside a polled region, so
    nothing typed is lost.
    """
    response: HttpResponse
    if not request.htmx:
        return versioned_page(request, template, slug=slug, number=number, context=context)
    version, batch_state = _state(request, slug=slug, number=number)
    if request.GET.get("v") == version:
        # Unchanged. A final state (an approved batch) that the page already shows: tell
        # htmx to stop polling. A page that does not show it yet gets it first, so the
        # review's decision appears on the projector before the polling ends.
        final = stop_when_approved and batch_state == BatchState.APPROVED
        response = HttpResponseStopPolling() if final else HttpResponse(status=204)
    else:
        # The context is built only if the region of this version is not in the cache yet: every
        # open page's poll asks for it after a change, and only the first renders it.
        body = live_html(
            request,
            template,
            lambda: context(get_object_or_404(Plan, slug=slug)),
            slug=slug,
            number=number,
            version=version,
            oob=True,
        )
        poller = render_to_string(
            "includes/poller.html",
            {"version": version, "oob": True, "poll_seconds": POLL_SECONDS},
            request=request,
        )
        response = HttpResponse(body + poller)
    return _uncached(response)


def live_html(
    request: HtmxHttpRequest,
    template: str,
    context: dict | Callable[[], dict],
    *,
    slug: str,
    number: int | None,
    version: str,
    oob: bool = False,
    with_token: bool = True,
) -> SafeString:
    """The template's ``live`` partial, rendered once per version and role set.

    What a live region shows depends on the data (the version) and the viewer's
    roles (their buttons, "next for you"), nothing else of the viewer; the CSRF
    token in its forms is the viewer's own, put in after the cache. The context, or
    a function that builds it, and context values that are callables are only
    called when the region is really rendered.
    ``with_token=False`` leaves the placeholder in, for a page that is itself
    cached for every viewer with these roles and puts the token in last.
    """
    roles = ",".join(sorted(user_roles(request.user)))
    # Rendered once, out-of-band, for the poll and the page alike: the page's copy is the same
    # markup without the attribute (OOB_ATTRIBUTE is the only thing ``oob`` changes in a live
    # partial; tests/pages/test_live.py checks the templates). Under a stream of changes this
    # halves what each new version costs to render.
    key = f"gatehouse:live-html:{template}:{slug}:{number}:{version}:{roles}"
    html = _render_once(
        key,
        lambda: render_to_string(
            f"{template}#live",
            {**(context() if callable(context) else context), "oob": True, "csrf_token": CSRF_PLACEHOLDER},
            request=request,
        ),
        timeout=settings.PAGE_CACHE_SECONDS or 60,  # what only the clock moves ("last checked") ages no more
    )
    if not oob:
        html = html.replace(OOB_ATTRIBUTE, "")
    if with_token:
        html = html.replace(CSRF_PLACEHOLDER, get_token(request))
    return mark_safe(html)  # noqa: S308 (our own render)


def _uncached(response: HttpResponse) -> HttpResponse:
    patch_vary_headers(response, ["HX-Request"])
    patch_cache_control(response, private=True, no_cache=True)
    return response
