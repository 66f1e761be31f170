"""A batch's review page, presenting mode, its lifecycle moves and PR links."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from batches.models import Batch, BatchState, GovernanceError, PlannedPR
from batches.pr_linking import PullRequestLinkError, planned_pr_link
from batches.tasks import sync_batch, sync_prs
from pages import readmodels
from pages.access import UNPROCESSABLE, HtmxHttpRequest, actor, back, batch_for, require
from pages.confirm import confirm_page, confirmed
from pages.live import live_response
from pages.review_readmodels import review_board


def _review_context(request: HtmxHttpRequest, batch: Batch, **extra) -> dict:
    return {
        "plan": batch.plan,
        "batch": batch,
        "board": readmodels.board_for(batch, request.user),
        "review": review_board(batch),
        "can": readmodels.permissions_for(request.user),
        **extra,
    }


@require_GET
def batch_review(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    require(request, "view")
    return live_response(
        request,
        "pages/batch.html",
        slug=slug,
        number=number,
        context=lambda plan: _review_context(request, batch_for(request, slug, number)),
    )


@require_GET
def batch_present(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    """Presenting mode: the verdict and the gates, large, for the projector in the review."""
    require(request, "view")
    return live_response(
        request,
        "pages/present.html",
        slug=slug,
        number=number,
        context=lambda plan: _review_context(request, batch_for(request, slug, number)),
        stop_when_approved=True,
    )


# Approval is not here: it is the review's decision (pages/views/reviews.py).
TRANSITIONS = {"start": "start", "ready": "mark_ready"}
DONE = {"start": "started", "ready": "marked ready for review"}


@require_POST
def batch_transition(request: HtmxHttpRequest, slug: str, number: int, move: str) -> HttpResponse:
    """Start a batch or mark it ready; a refusal shows the governance rule's sentence.

    Starting while the cadence says wait needs a written override reason and a
    confirmation; the override is recorded on this batch and its predecessor.
    """
    batch = batch_for(request, slug, number, "change_batch_state")
    override = request.POST.get("override_reason", "").strip() if move == "start" else ""
    if override and not confirmed(request):
        previous_batch = batch.previous_batch()
        blockers = batch.start_blockers()
        if blockers and batch.state == BatchState.PLANNED:
            return confirm_page(
                request,
                title=f"Start Batch {batch.number} with an override?",
                lead="The plan's cadence says this batch should wait: " + " ".join(blockers),
                consequences=[
                    f"Batch {batch.number} starts now, before Batch {previous_batch.number} has passed."
                    if previous_batch
                    else f"Batch {batch.number} starts now.",
                    f"Your reason is recorded and shown on both batches and in their sign-off records: “{override}”.",
                ],
                action=request.path,
                fields={"override_reason": override},
                confirm_label=f"Start Batch {batch.number} anyway",
                cancel_url=batch.get_absolute_url(),
            )
    error = ""
    try:
        if move == "start":
            batch.start(by=actor(request), override_reason=override)
            # Its automated gates are read now, not at the next sync pass (robust: a
            # provider problem shows on the gates, never as a failed start).
            transaction.on_commit(lambda: sync_batch.delay(batch.pk), robust=True)
        else:
            getattr(batch, TRANSITIONS[move])(by=actor(request))
    except GovernanceError as exc:
        error = str(exc)
    if request.htmx:
        batch = get_object_or_404(readmodels.board_batches(), pk=batch.pk)
        context = _review_context(request, batch, lifecycle_error=error)
        return render(request, "pages/batch.html#lifecycle", context, status=UNPROCESSABLE if error else 200)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Batch {batch.number} {DONE[move]}" + (" with an override." if override else "."))
    return back(request, batch.get_absolute_url())


@require_POST
def pr_link(request: HtmxHttpRequest, slug: str, number: int, pr_number: int) -> HttpResponse:
    """Link a planned PR to a GitHub pull request by its pasted URL."""
    require(request, "link_pr")
    pr = get_object_or_404(
        PlannedPR.objects.select_related("batch__plan"), batch__plan__slug=slug, batch__number=number, number=pr_number
    )
    error = ""
    url = request.POST.get("url", "")
    try:
        planned_pr_link(pr=pr, url=url)
    except PullRequestLinkError as exc:
        error = str(exc)
        pr.refresh_from_db()
    else:
        # Read the pull request and re-check the gates that cover it now.
        transaction.on_commit(lambda: sync_prs.delay([pr.pk]), robust=True)
        pr.refresh_from_db()  # an in-process (eager) sync has already read it
    if request.htmx:
        context = {
            "pr": pr,
            "plan": pr.batch.plan,
            "batch": pr.batch,
            "can": readmodels.permissions_for(request.user),
            "link_error": error,
            "link_value": url if error else "",
        }
        return render(request, "pages/batch.html#pr", context, status=UNPROCESSABLE if error else 200)
    if error:
        messages.error(request, f"PR #{pr.number}: {error}")
    else:
        messages.success(request, f"PR #{pr.number} is linked to {pr.github_repository}#{pr.github_number}.")
    return redirect(f"{pr.batch.get_absolute_url()}#pr-{pr.number}")
