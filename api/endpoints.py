"""The read-only JSON API under /api/: plans, batches, gates, sign-offs, evidence metadata and metrics.

Built with django-ninja: typed function views whose pydantic schemas
(``api/schemas.py``) are both the response validation and the OpenAPI
document at /api/openapi.json. Every endpoint checks the caller's role as the
pages do, reads through the pages' read-models (``pages.readmodels``) where
they exist, and costs a fixed number of queries whatever the plan's size.
"""

from __future__ import annotations

import hashlib

from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import parse_etags
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.pagination import PageNumberPagination, paginate

import pages.readmodels as readmodels
from api import schemas
from api.auth import TokenAuth, TokenRateLimit, require, schema_access, unauthorized
from api.metrics import plan_metrics
from batches.models import Batch, BatchEvent, BatchState, Gate, Plan
from signoffs.models import Evidence, SignOff

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

api = NinjaAPI(
    title="Gatehouse API",
    version="1",
    description=(
        "Read-only. Authenticate with a personal token (your account's API tokens page): "
        "`Authorization: Bearer gth_…`. Role checks are the portal's own. Status endpoints answer "
        "`304` to `If-None-Match`; each token may make `API_RATE_LIMIT_PER_MINUTE` requests a minute."
    ),
    urls_namespace="api",
    auth=TokenAuth(),
    throttle=[TokenRateLimit()],
    docs_url=None,  # Swagger UI loads from a CDN; the schema itself is served
    openapi_url="/openapi.json",
    docs_decorator=schema_access,
)

ERRORS: dict[int, type[schemas.Error]] = {
    401: schemas.Error,
    403: schemas.Error,
    404: schemas.Error,
    429: schemas.Error,
}


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return unauthorized(str(exc))


@api.exception_handler(Throttled)
def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    from django.conf import settings

    seconds = max(1, round(exc.wait or 0))
    message = (
        f"Rate limit reached: {settings.API_RATE_LIMIT_PER_MINUTE} requests a minute per token. "
        f"Try again in {seconds} s."
    )
    return api.create_response(request, {"detail": message}, status=429)


# -- lookups: role first, then the object (as pages.access does) -----------------------------


def _plan(request: HttpRequest, slug: str, action: str = "view") -> Plan:
    require(request, action)
    plan = Plan.objects.filter(slug=slug).first()
    if plan is None:
        raise HttpError(404, f"There is no plan “{slug}”.")
    return plan


def _batch(request: HttpRequest, slug: str, number: int, action: str = "view") -> Batch:
    """The batch with everything its review page shows prefetched (``readmodels.board_batches``)."""
    require(request, action)
    batch = readmodels.board_batches().filter(plan__slug=slug, number=number).first()
    if batch is None:
        raise HttpError(404, f"There is no batch {number} in plan “{slug}”.")
    return batch


def _absolute(request: HttpRequest, path: str) -> str:
    return request.build_absolute_uri(path)


def _conditional(request: HttpRequest, payload: schemas.Schema) -> HttpResponse:
    """``payload`` with an ETag of its body; 304 with no body when the caller already has it."""
    response = api.create_response(request, payload.model_dump(mode="json"), status=200)
    etag = '"' + hashlib.blake2b(response.content, digest_size=16).hexdigest() + '"'
    known = parse_etags(request.headers.get("If-None-Match", ""))
    if etag in known or "*" in known:
        response = HttpResponseNotModified()
    response["ETag"] = etag
    # Per caller (a role sees what it may), and always revalidated: it is a live status.
    patch_cache_control(response, private=True, no_cache=True)
    patch_vary_headers(response, ["Authorization"])
    return response


# -- building the answers from the read-models ------------------------------------------------


def _tally(tally: readmodels.GateTally) -> schemas.Tally:
    return schemas.Tally(
        passing=tally.passing,
        waived=tally.waived,
        failing=tally.failing,
        stale=tally.stale,
        pending=tally.pending,
        total=tally.total,
        outstanding=tally.outstanding,
    )


def _verdict(verdict: readmodels.Verdict) -> schemas.Verdict:
    return schemas.Verdict(tone=verdict.tone, headline=verdict.headline, detail=verdict.detail)


def _summary_fields(request: HttpRequest, batch: Batch, tally, verdict, blockers: list[str]) -> dict:
    return {
        "number": batch.number,
        "title": batch.title,
        "state": batch.state,
        "state_label": batch.get_state_display(),
        "target_pr_count": batch.target_pr_count,
        "started_at": batch.started_at,
        "ready_at": batch.ready_at,
        "approved_at": batch.approved_at,
        "tally": _tally(tally),
        "verdict": _verdict(verdict),
        "blockers": blockers,
        "url": _absolute(request, batch.get_absolute_url()),
    }


def _gate(row: readmodels.GateRow) -> schemas.GateOut:
    gate = row.gate
    waiver = None
    if gate.waived_at is not None:
        waiver = schemas.Waiver(
            by=gate.waived_by.get_username() if gate.waived_by else None, at=gate.waived_at, reason=gate.waiver_reason
        )
    return schemas.GateOut(
        id=gate.pk,
        key=gate.key,
        kind=gate.kind,
        label=gate.label,
        status=gate.status,
        state=gate.state,
        detail=gate.detail,
        detail_url=gate.detail_link,
        source=gate.source,
        origin=gate.origin,
        last_checked_at=gate.last_checked_at,
        state_changed_at=gate.state_changed_at,
        waiver=waiver,
        prs=[pr.number for pr in row.scope_prs],
        checklist=[
            schemas.ChecklistItemOut(
                id=item.item.pk,
                key=item.item.key,
                text=item.item.text,
                evidence_required=item.item.evidence_required,
                ticked=item.state.ticked,
                done=item.state.done,
                ticked_by=item.state.state_event.user.get_username()
                if item.state.ticked and item.state.state_event and item.state.state_event.user
                else None,
                ticked_at=item.state.state_event.created_at if item.state.ticked and item.state.state_event else None,
                current_evidence=[e.pk for e in item.state.current_evidence],
            )
            for item in row.items
        ],
    )


def _username(user) -> str | None:
    return user.get_username() if user else None


# -- plans -------------------------------------------------------------------------------------


@api.get("/plans", response={200: list[schemas.PlanOut], **ERRORS}, tags=["plans"])
@paginate(PageNumberPagination, page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
def plans_list(request: HttpRequest):
    """Every plan, by title."""
    require(request, "view")
    return Plan.objects.annotate(batch_count=Count("batches")).order_by("title", "pk")


@api.get("/plans/{slug}", response={200: schemas.PlanOut, **ERRORS}, tags=["plans"])
def plan_detail(request: HttpRequest, slug: str):
    """One plan."""
    require(request, "view")
    plan = Plan.objects.annotate(batch_count=Count("batches")).filter(slug=slug).first()
    if plan is None:
        raise HttpError(404, f"There is no plan “{slug}”.")
    return plan


@api.get("/plans/{slug}/status", response={200: schemas.PlanStatus, 304: None, **ERRORS}, tags=["status"])
def plan_status(request: HttpRequest, slug: str):
    """Every batch's state, verdict and gate tally: the plan page's summary. ETag / If-None-Match."""
    plan = _plan(request, slug)
    summaries = readmodels.plan_summaries(plan, request.user)
    return _conditional(
        request,
        schemas.PlanStatus(
            plan=plan.slug,
            title=plan.title,
            batches=[
                schemas.PlanStatusBatch(
                    number=s.batch.number,
                    title=s.batch.title,
                    state=s.batch.state,
                    verdict=_verdict(s.verdict),
                    tally=_tally(s.tally),
                )
                for s in summaries
            ],
            url=_absolute(request, plan.get_absolute_url()),
        ),
    )


# -- batches -----------------------------------------------------------------------------------


@api.get("/plans/{slug}/batches", response={200: list[schemas.BatchSummary], **ERRORS}, tags=["batches"])
@paginate(PageNumberPagination, page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
def batches_list(request: HttpRequest, slug: str):
    """The plan's batches in order, with their tallies, verdicts and blockers (the plan page's read-model)."""
    plan = _plan(request, slug)
    return [
        schemas.BatchSummary(**_summary_fields(request, s.batch, s.tally, s.verdict, s.blockers))
        for s in readmodels.plan_summaries(plan, request.user)
    ]


@api.get("/plans/{slug}/batches/{number}", response={200: schemas.BatchDetail, **ERRORS}, tags=["batches"])
def batch_detail(request: HttpRequest, slug: str, number: int):
    """Everything the batch's review page shows: goals, tasks, PRs, gates with their checklists, history."""
    batch = _batch(request, slug, number)
    board = readmodels.board_for(batch, request.user)
    history = BatchEvent.objects.filter(batch=batch).select_related("by").order_by("created_at", "pk")
    return schemas.BatchDetail(
        **_summary_fields(request, batch, board.tally, board.verdict, board.blockers),
        goals=list(batch.goals),
        key_tasks=list(batch.key_tasks),
        started_by=_username(batch.started_by),
        approved_by=_username(batch.approved_by),
        prs=[
            schemas.PullRequestOut(
                number=pr.number,
                task=pr.task,
                github_url=pr.github_link,
                github_state=pr.github_state,
                draft=pr.draft,
                merged_at=pr.merged_at,
                head_sha=pr.head_sha,
            )
            for pr in board.prs
        ],
        gates=[_gate(row) for row in board.gates],
        history=[
            schemas.BatchEventOut(
                action=e.action, by=_username(e.by), at=e.created_at, reason=e.reason, detail=e.detail
            )
            for e in history
        ],
    )


@api.get(
    "/plans/{slug}/batches/{number}/status",
    response={200: schemas.BatchStatus, 304: None, **ERRORS},
    tags=["status"],
)
def batch_status(request: HttpRequest, slug: str, number: int):
    """The batch's state, verdict, tally, blockers and gate statuses: for wall dashboards. ETag / If-None-Match.

    Polled all day, so it loads only the batch and its gates (no checklist histories) and
    answers from the same read-model functions the pages use for these parts.
    """
    require(request, "view")
    gates = Gate.objects.select_related("waived_by")
    batch = (
        Batch.objects.select_related("plan", "approved_by")
        .prefetch_related(Prefetch("gates", queryset=gates))
        .filter(plan__slug=slug, number=number)
        .first()
    )
    if batch is None:
        raise HttpError(404, f"There is no batch {number} in plan “{slug}”.")
    if batch.state == BatchState.PLANNED:
        readmodels.previous_batch_for(batch)  # the cadence blockers read it
    tally = readmodels.gate_tally(batch.gates.all())
    return _conditional(
        request,
        schemas.BatchStatus(
            plan=slug,
            number=batch.number,
            title=batch.title,
            state=batch.state,
            state_label=batch.get_state_display(),
            verdict=_verdict(readmodels.batch_verdict(batch, tally)),
            tally=_tally(tally),
            blockers=readmodels.batch_blockers(batch),
            gates=[
                schemas.GateStatus(
                    key=gate.key,
                    kind=gate.kind,
                    label=gate.label,
                    status=gate.status,
                    last_checked_at=gate.last_checked_at,
                )
                for gate in batch.gates.all()
            ],
            url=_absolute(request, batch.get_absolute_url()),
        ),
    )


@api.get("/plans/{slug}/batches/{number}/gates", response={200: list[schemas.GateOut], **ERRORS}, tags=["gates"])
@paginate(PageNumberPagination, page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
def gates_list(request: HttpRequest, slug: str, number: int):
    """The batch's gates in plan order, each with its status, waiver, PRs and checklist."""
    batch = _batch(request, slug, number)
    return [_gate(row) for row in readmodels.board_for(batch, request.user).gates]


# -- sign-offs and evidence --------------------------------------------------------------------


@api.get(
    "/plans/{slug}/batches/{number}/signoffs", response={200: list[schemas.SignOffOut], **ERRORS}, tags=["sign-offs"]
)
@paginate(PageNumberPagination, page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
def signoffs_list(request: HttpRequest, slug: str, number: int):
    """Every sign-off event of the batch's checklists (ticks, unticks, notes, re-import records), oldest first."""
    plan = _plan(request, slug)
    if not Batch.objects.filter(plan=plan, number=number).exists():
        raise HttpError(404, f"There is no batch {number} in plan “{slug}”.")
    return (
        SignOff.objects.filter(item__gate__batch__plan=plan, item__gate__batch__number=number)
        .select_related("item__gate", "user")
        .order_by("created_at", "pk")
    )


@api.get(
    "/plans/{slug}/batches/{number}/evidence", response={200: list[schemas.EvidenceOut], **ERRORS}, tags=["evidence"]
)
@paginate(PageNumberPagination, page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
def evidence_list(request: HttpRequest, slug: str, number: int):
    """Metadata of every evidence file of the batch (names, sizes, hashes, who, when, what it replaced).

    The files themselves are served only to people signed in to the portal.
    """
    plan = _plan(request, slug, "view_evidence")
    if not Batch.objects.filter(plan=plan, number=number).exists():
        raise HttpError(404, f"There is no batch {number} in plan “{slug}”.")
    return (
        Evidence.objects.filter(item__gate__batch__plan=plan, item__gate__batch__number=number)
        .select_related("item__gate", "uploaded_by", "replaced_by")
        .order_by("uploaded_at", "pk")
    )


# -- metrics -----------------------------------------------------------------------------------


@api.get("/plans/{slug}/metrics", response={200: schemas.PlanMetrics, **ERRORS}, tags=["metrics"])
def metrics(request: HttpRequest, slug: str):
    """The plan's delivery metrics per batch (see ``api/metrics.py`` for what is computed today)."""
    return plan_metrics(_plan(request, slug))
