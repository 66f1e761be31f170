"""A batch's stakeholder review: open it, record attendees and confirmations, decide; the summary comment.

Release managers run the review; everyone who can see the batch can read it
(and follow it live in presenting mode). Every form works without JavaScript;
htmx swaps the attendee list and a confirmed checklist row in place.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from batches.models import Batch
from pages import readmodels
from pages.access import UNPROCESSABLE, HtmxHttpRequest, actor, require
from pages.review_readmodels import checklist_row, review_batches, review_board
from portal.roles import user_can
from reviews.models import Decision, ReleaseCheckItem, ReviewAttendee, ReviewSession
from reviews.services import FollowUpInput, ReviewError, review_attendee_add, review_confirm, review_decide, review_open
from reviews.summary import SummaryError, summary_data, summary_draft, summary_post

FOLLOW_UP_ROWS = 5


def _batch(request: HtmxHttpRequest, slug: str, number: int, action: str = "view") -> Batch:
    require(request, action)
    return get_object_or_404(review_batches(), plan__slug=slug, number=number)


def _review_url(batch: Batch) -> str:
    return reverse("pages:review", kwargs={"slug": batch.plan.slug, "number": batch.number})


def _context(request: HtmxHttpRequest, batch: Batch, **extra) -> dict:
    board = review_board(batch, with_users=user_can(request.user, "run_review"))
    return {
        "plan": batch.plan,
        "batch": batch,
        "review": board,
        "can": readmodels.permissions_for(request.user),
        "follow_up_rows": range(FOLLOW_UP_ROWS),
        **extra,
    }


@require_GET
def review_page(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    batch = _batch(request, slug, number)
    return render(request, "pages/review.html", _context(request, batch))


@require_POST
def review_open_view(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    """Open the batch's review, or continue the one already open; either way, go to it."""
    batch = _batch(request, slug, number, "run_review")
    try:
        session = review_open(batch=batch, by=actor(request))
    except ReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Review {session.number} of Batch {batch.number} is open.")
    response: HttpResponse = redirect(_review_url(batch))
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = _review_url(batch)
    return response


def _open_session(batch: Batch) -> ReviewSession | None:
    return ReviewSession.objects.filter(batch=batch, decision__isnull=True).order_by("-number").first()


@require_POST
def review_attendee_view(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    """Add an attendee: a portal user (by id) or a typed name."""
    batch = _batch(request, slug, number, "run_review")
    error = ""
    open_session = _open_session(batch)
    user = None
    user_id = request.POST.get("user", "").strip()
    if user_id:
        user = User.objects.filter(pk=user_id if user_id.isdigit() else 0, is_active=True).first()
        if user is None:
            error = "That portal user does not exist."
    name = request.POST.get("name", "")
    if open_session is None:
        error = "No review of this batch is open."
    elif not error:
        try:
            review_attendee_add(session=open_session, by=actor(request), user=user, name=name)
        except ReviewError as exc:
            error = str(exc)
    if request.htmx:
        context = _context(request, batch, attendee_error=error, attendee_name=name if error else "", oob=not error)
        return render(request, "pages/review.html#attendees", context, status=UNPROCESSABLE if error else 200)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, "Attendee added.")
    return redirect(_review_url(batch) + "#attendees")


@require_POST
def review_confirm_view(request: HtmxHttpRequest, slug: str, number: int, item_pk: int) -> HttpResponse:
    """An attendee confirms one checklist item, with a note."""
    batch = _batch(request, slug, number, "run_review")
    item = get_object_or_404(ReleaseCheckItem.objects.select_related("checklist"), pk=item_pk)
    note = request.POST.get("note", "")
    attendee_id = request.POST.get("attendee", "")
    error = ""
    open_session = _open_session(batch)
    if open_session is None:
        error = "No review of this batch is open."
    else:
        attendee = ReviewAttendee.objects.filter(
            pk=attendee_id if attendee_id.isdigit() else 0, session=open_session
        ).first()
        if attendee is None:
            error = "Choose who confirms it, from the attendee list."
        else:
            try:
                review_confirm(session=open_session, item=item, attendee=attendee, note=note, by=actor(request))
            except ReviewError as exc:
                error = str(exc)
    if request.htmx:
        context = _context(request, batch)
        row = checklist_row(context["review"], item.pk)
        if row is None:
            return HttpResponse(error or "That item is not on this plan's release checklist.", status=UNPROCESSABLE)
        row.error, row.note_value, row.attendee_value = error, note if error else "", attendee_id if error else ""
        context["row"] = row
        return render(request, "pages/review.html#item", context, status=UNPROCESSABLE if error else 200)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Confirmed: {item.text}")
    return redirect(_review_url(batch) + f"#check-{item.pk}")


@require_POST
def review_decide_view(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    """End the review: approve, approve with follow-ups, or send back with a reason."""
    batch = _batch(request, slug, number, "run_review")
    decision = request.POST.get("decision", "")
    reason = request.POST.get("reason", "")
    texts = request.POST.getlist("follow_up_text")
    owners = request.POST.getlist("follow_up_owner")
    follow_ups = [FollowUpInput(text, owner) for text, owner in zip(texts, owners, strict=False)]
    open_session = _open_session(batch)
    try:
        if open_session is None:
            raise ReviewError("No review of this batch is open.")
        row = review_decide(
            session=open_session, decision=decision, by=actor(request), reason=reason, follow_ups=follow_ups
        )
    except ReviewError as exc:
        # The page again, with what was typed, so nothing is lost.
        batch = get_object_or_404(review_batches(), pk=batch.pk)
        context = _context(
            request,
            batch,
            decision_error=str(exc),
            decision_value=decision,
            reason_value=reason,
            follow_up_values=[(f.text, f.owner) for f in follow_ups],
        )
        return render(request, "pages/review.html", context, status=UNPROCESSABLE)
    if row.decision == Decision.SENT_BACK:
        messages.success(request, f"Batch {batch.number} was sent back; it is in progress again.")
    else:
        messages.success(
            request, f"Batch {batch.number} approved by the review ({row.get_decision_display().lower()})."
        )
    response: HttpResponse = redirect(batch.get_absolute_url())
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = batch.get_absolute_url()
    return response


# -- the summary comment -------------------------------------------------------------------


def _summary_context(request: HtmxHttpRequest, batch: Batch, **extra) -> dict:
    data = summary_data(batch)
    posted = data.posted
    draft = summary_draft(data)
    return {
        "plan": batch.plan,
        "batch": data.batch,
        "draft": draft,
        "text": extra.pop("text", None) or (posted[0].body.rsplit("<!--", 1)[0].strip() if posted else draft),
        "posted": posted,
        "prs": data.prs,
        "can": readmodels.permissions_for(request.user),
        **extra,
    }


@require_GET
def summary_page(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    batch = _batch(request, slug, number)
    return render(request, "pages/summary.html", _summary_context(request, batch))


@require_POST
def summary_post_view(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    """Post the (edited) summary to each of the batch's PRs that has none yet; show each PR's outcome."""
    batch = _batch(request, slug, number, "post_summary")
    text = request.POST.get("text", "")
    try:
        results = summary_post(batch=batch, text=text, by=actor(request))
    except SummaryError as exc:
        context = _summary_context(request, batch, text=text, post_error=str(exc))
        return render(request, "pages/summary.html", context, status=UNPROCESSABLE)
    failed = [r for r in results if r.outcome == "failed"]
    context = _summary_context(request, batch, text=text, results=results, failed=failed)
    template = "pages/summary.html#post-results" if request.htmx else "pages/summary.html"
    return render(request, template, context, status=UNPROCESSABLE if failed else 200)
