"""Plan and batch pages. Each page is one template; htmx asks for its named partials.

Every view checks the role itself (``_require``) before touching data: a
template hiding a button is never the permission check, because any partial
can be requested directly.
"""

from __future__ import annotations

import hashlib
import re

from django.contrib import messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from batches import review
from batches.forms import PlanSettingsForm
from batches.models import Batch, BatchState, Gate, GateKind, GovernanceError, Plan, PlannedPR, WaiverError
from batches.plan_preview import plan_import_preview
from batches.plan_settings import gate_check_names_configure, plan_configure
from batches.services import (
    PlanImportError,
    PullRequestLinkError,
    plan_import,
    plan_slug_for,
    planned_pr_link,
)
from batches.tasks import sync_batch, sync_prs
from signoffs.roles import denial_reason, user_can

# The status code for a form the server refused: htmx is configured (base.html)
# to swap it like a 200, so the error shows in place; browsers show it too.
UNPROCESSABLE = 422
PLAN_MAX_BYTES = 1_048_576
POLL_SECONDS = 3
CSRF_INPUT = re.compile(r'<input type="hidden" name="csrfmiddlewaretoken" value="[^"]*">')


def _require(request: HttpRequest, action: str) -> None:
    if not user_can(request.user, action):
        raise PermissionDenied(denial_reason(action))


def _plan_for(request: HttpRequest, slug: str, action: str = "view") -> Plan:
    _require(request, action)
    return get_object_or_404(Plan, slug=slug)


def _batch_for(request: HttpRequest, slug: str, number: int, action: str = "view") -> Batch:
    """The batch with everything its pages show, after checking the viewer may ``action``."""
    _require(request, action)
    return get_object_or_404(review.review_batches(), plan__slug=slug, number=number)


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    """Redirect to the form's ``next`` (same site only) or ``default``."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        target = default
    return redirect(target)


def live_response(request: HttpRequest, template: str, context: dict, *, stop: bool = False) -> HttpResponse:
    """A page, or for an htmx poll its ``live`` partial of out-of-band status regions.

    The poller sends the version of what it shows; an unchanged region set is a
    204, which htmx ignores, so nothing is swapped and nothing flickers. Inputs
    (notes, file pickers) are never inside a polled region, so nothing typed is lost.
    """
    if not request.htmx:
        response = render(request, template, {**context, "poll_seconds": POLL_SECONDS})
    elif stop:
        # A final state (an approved batch): tell htmx to stop polling.
        response = HttpResponseStopPolling()
    else:
        body = render_to_string(f"{template}#live", {**context, "oob": True}, request=request)
        # A form's CSRF token is masked afresh on every render; leave it out of the
        # version or a page with buttons would never look unchanged.
        version = hashlib.blake2b(CSRF_INPUT.sub("", body).encode(), digest_size=8).hexdigest()
        if request.GET.get("v") == version:
            response = HttpResponse(status=204)
        else:
            poller = render_to_string(
                "includes/poller.html",
                {"version": version, "oob": True, "poll_seconds": POLL_SECONDS},
                request=request,
            )
            response = HttpResponse(body + poller)
    patch_vary_headers(response, ["HX-Request"])
    patch_cache_control(response, private=True, no_cache=True)
    return response


# -- pages -----------------------------------------------------------------------


def _home_context(request: HttpRequest, **extra) -> dict:
    plans = Plan.objects.annotate(batch_count=Count("batches")).order_by("title")
    return {"plans": plans, "can": review.permissions_for(request.user), **extra}


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    _require(request, "view")
    return render(request, "batches/home.html", _home_context(request))


# How long a preview can be confirmed; after that the file is uploaded again.
PREVIEW_MAX_AGE_SECONDS = 60 * 60


def _plan_signing_salt(request: HttpRequest) -> str:
    # Per user: a previewed plan can only be confirmed by whoever previewed it.
    return f"batches.plan-import:{request.user.pk}"


def _import_response(request: HttpRequest, context: dict, *, status: int = 200) -> HttpResponse:
    template = "batches/import.html#import" if request.htmx else "batches/import.html"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_http_methods(["GET", "POST"])
def plan_import_page(request: HttpRequest) -> HttpResponse:
    """Import (or re-import) a plan in two steps: preview, then confirm.

    GET shows the upload form. POSTing a file shows what importing it would do,
    writing nothing; the preview's form carries the document back, signed, and
    POSTing that imports exactly what was previewed. Every step answers at this
    one address, which also answers GET, so reloading after any of them (a
    refused file without JavaScript, say) shows the page instead of a 405.
    """
    _require(request, "import_plan")
    if request.method == "GET":
        return _import_response(request, {})
    if "signed_plan" in request.POST:
        return _plan_import_confirm(request)
    return _plan_import_preview(request)


def _plan_import_preview(request: HttpRequest) -> HttpResponse:
    upload = request.FILES.get("file")
    if upload is None:
        error = "Choose the plan’s markdown file to import."
    elif upload.size > PLAN_MAX_BYTES:
        error = f"The file is {upload.size / 1_048_576:.1f} MB; a plan may be at most 1 MB."
    else:
        source = upload.read()
        try:
            preview = plan_import_preview(
                source=source, slug=plan_slug_for(upload.name), source_name=upload.name, by=request.user
            )
        except PlanImportError as exc:
            error = f"{upload.name} was not imported: {exc}"
        else:
            # The preview parsed it, so it is UTF-8; "utf-8" (not "-sig") keeps a BOM, so the
            # confirmed bytes, and the stored SHA-256, are exactly the uploaded file's.
            signed = signing.dumps(
                {"name": upload.name, "source": source.decode("utf-8")},
                salt=_plan_signing_salt(request),
                compress=True,
            )
            return _import_response(request, {"preview": preview, "signed_plan": signed})
    return _import_response(request, {"import_error": error}, status=UNPROCESSABLE)


def _previewed_plan(request: HttpRequest) -> tuple[str, bytes]:
    """The file name and document the preview signed; ValueError, with a sentence, if they are not intact."""
    try:
        signed = signing.loads(
            request.POST["signed_plan"], salt=_plan_signing_salt(request), max_age=PREVIEW_MAX_AGE_SECONDS
        )
    except signing.SignatureExpired:
        raise ValueError("This preview is more than an hour old; upload the file again to import it.") from None
    except signing.BadSignature:
        raise ValueError(
            "The import was not confirmed: the form no longer carries the plan that was previewed. "
            "Upload the file again."
        ) from None
    return signed["name"], signed["source"].encode("utf-8")


def _plan_import_confirm(request: HttpRequest) -> HttpResponse:
    try:
        name, source = _previewed_plan(request)
    except ValueError as exc:
        return _import_response(request, {"import_error": str(exc)}, status=UNPROCESSABLE)
    # Checked again from the start: the plan, or the database, may have changed since the preview.
    try:
        summary = plan_import(source=source, slug=plan_slug_for(name), source_name=name, by=request.user)
    except PlanImportError as exc:
        return _import_response(request, {"import_error": f"{name} was not imported: {exc}"}, status=UNPROCESSABLE)
    verb = "Imported" if summary.created else "Re-imported"
    messages.success(
        request, f"{verb} “{summary.plan.title}”: {summary.batches} batches, {summary.prs} PRs, {summary.gates} gates."
    )
    url = summary.plan.get_absolute_url()
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _ci_gates_for_settings(plan: Plan) -> list[Gate]:
    """CI gates of the plan's open batches: their check names are set on the settings page."""
    return list(
        Gate.objects.filter(batch__plan=plan, kind=GateKind.CI)
        .exclude(batch__state=BatchState.APPROVED)
        .select_related("batch")
        .order_by("batch__number", "position")
    )


@require_http_methods(["GET", "POST"])
def plan_settings(request: HttpRequest, slug: str) -> HttpResponse:
    """A plan's integrations and the gates they add to every batch; release managers edit them here."""
    plan = _plan_for(request, slug, "configure_plan")
    ci_gates = _ci_gates_for_settings(plan)
    form = PlanSettingsForm.for_plan(plan, data=request.POST if request.method == "POST" else None)
    check_errors: dict[int, str] = {}
    check_names = {}
    if request.method == "POST":
        for gate in ci_gates:
            value = request.POST.get(f"check-{gate.pk}", gate.check_name).strip()
            if len(value) > 200:
                check_errors[gate.pk] = "Keep the check name under 200 characters."
            check_names[gate.pk] = value
        if form.is_valid() and not check_errors:
            with transaction.atomic():
                changes = plan_configure(plan=plan, by=request.user, values=form.cleaned_data)
                renamed = gate_check_names_configure(plan=plan, check_names=check_names)
            summary = "Saved the plan settings."
            if renamed:
                summary += f" {renamed} CI check name{'s' if renamed != 1 else ''} changed."
            messages.success(request, " ".join([summary, *changes]))
            return redirect("batches:plan-settings", slug=plan.slug)
    for gate in ci_gates:
        gate.value = check_names.get(gate.pk, gate.check_name)
        gate.error = check_errors.get(gate.pk, "")
    status = UNPROCESSABLE if request.method == "POST" else 200
    return render(request, "batches/settings.html", {"plan": plan, "form": form, "ci_gates": ci_gates}, status=status)


@require_GET
def plan_overview(request: HttpRequest, slug: str) -> HttpResponse:
    plan = _plan_for(request, slug)
    context = {
        "plan": plan,
        "summaries": review.plan_summaries(plan, request.user),
        "can": review.permissions_for(request.user),
    }
    return live_response(request, "batches/plan.html", context)


def _review_context(request: HttpRequest, batch: Batch, **extra) -> dict:
    return {
        "plan": batch.plan,
        "batch": batch,
        "review": review.review_for(batch, request.user),
        "can": review.permissions_for(request.user),
        **extra,
    }


@require_GET
def batch_review(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    batch = _batch_for(request, slug, number)
    return live_response(request, "batches/batch.html", _review_context(request, batch))


@require_GET
def batch_present(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Presenting mode: the verdict and the gates, large, for the projector in the review."""
    batch = _batch_for(request, slug, number)
    return live_response(
        request, "batches/present.html", _review_context(request, batch), stop=batch.state == BatchState.APPROVED
    )


# -- release manager actions ----------------------------------------------------

TRANSITIONS = {"start": "start", "ready": "mark_ready", "approve": "approve"}
DONE = {"start": "started", "ready": "marked ready for review", "approve": "approved"}


def _confirm(
    request: HttpRequest,
    *,
    title: str,
    lead: str,
    consequences: list[str],
    action: str,
    fields: dict[str, str],
    confirm_label: str,
    cancel_url: str,
) -> HttpResponse:
    """The confirmation step of an action that bends a rule (waive, override, revoke).

    A plain page with a form that posts the same fields again plus ``confirmed``:
    it works without JavaScript, and htmx-driven pages reach it by a normal submit.
    """
    context = {
        "title": title,
        "lead": lead,
        "consequences": consequences,
        "action": action,
        "fields": fields,
        "confirm_label": confirm_label,
        "cancel_url": cancel_url,
    }
    return render(request, "batches/confirm.html", context)


def _confirmed(request: HttpRequest) -> bool:
    return request.POST.get("confirmed") == "yes"


@require_POST
def batch_transition(request: HttpRequest, slug: str, number: int, move: str) -> HttpResponse:
    """Start, mark ready or approve a batch; a refusal shows the governance rule's sentence.

    Starting while the cadence says wait needs a written override reason and a
    confirmation; the override is recorded on this batch and its predecessor.
    """
    batch = _batch_for(request, slug, number, "change_batch_state")
    override = request.POST.get("override_reason", "").strip() if move == "start" else ""
    if override and not _confirmed(request):
        previous_batch = batch.previous_batch()
        blockers = batch.start_blockers()
        if blockers and batch.state == BatchState.PLANNED:
            return _confirm(
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
            batch.start(by=request.user, override_reason=override)
            # Its automated gates are read now, not at the next sync pass (robust: a
            # provider problem shows on the gates, never as a failed start).
            transaction.on_commit(lambda: sync_batch.delay(batch.pk), robust=True)
        else:
            getattr(batch, TRANSITIONS[move])(by=request.user)
    except GovernanceError as exc:
        error = str(exc)
    if request.htmx:
        batch = get_object_or_404(review.review_batches(), pk=batch.pk)
        context = _review_context(request, batch, lifecycle_error=error)
        return render(request, "batches/batch.html#lifecycle", context, status=UNPROCESSABLE if error else 200)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Batch {batch.number} {DONE[move]}" + (" with an override." if override else "."))
    return _back(request, batch.get_absolute_url())


@require_POST
def pr_link(request: HttpRequest, slug: str, number: int, pr_number: int) -> HttpResponse:
    """Link a planned PR to a GitHub pull request by its pasted URL."""
    _require(request, "link_pr")
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
        pr.link_error, pr.link_value = error, url if error else ""
        context = {"pr": pr, "plan": pr.batch.plan, "batch": pr.batch, "can": review.permissions_for(request.user)}
        return render(request, "batches/batch.html#pr", context, status=UNPROCESSABLE if error else 200)
    if error:
        messages.error(request, f"PR #{pr.number}: {error}")
    else:
        messages.success(request, f"PR #{pr.number} is linked to {pr.github_repository}#{pr.github_number}.")
    return redirect(f"{pr.batch.get_absolute_url()}#pr-{pr.number}")


# -- health ------------------------------------------------------------------------


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for signed-in callers: the app answers and its database does.

    It stays behind login: the benchmark compares the review page with it, and
    it says nothing a stranger needs.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok\n", content_type="text/plain")


# -- gate waivers --------------------------------------------------------------------


def _get_gate_for(request: HttpRequest, pk: int, action: str) -> Gate:
    """The gate ``pk``, if the user may ``action`` it; 404 or PermissionDenied otherwise."""
    if not user_can(request.user, action):
        raise PermissionDenied(denial_reason(action))
    return get_object_or_404(Gate.objects.select_related("batch__plan", "waived_by"), pk=pk)


@require_POST
def gate_waive_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Waive a gate with a written reason, after a confirmation that says what a waiver does and does not do."""
    gate = _get_gate_for(request, pk, "waive_gate")
    reason = request.POST.get("reason", "").strip()
    refusal = gate.waiver_refusal() or ("" if reason else "Write why the gate is being waived.")
    if not refusal and not _confirmed(request):
        batch = gate.batch
        return _confirm(
            request,
            title=f"Waive the {gate.get_kind_display()} gate “{gate.label}”?",
            lead=f"It is {gate.get_state_display().lower()} now. Your reason: “{reason}”.",
            consequences=[
                f"Batch {batch.number} can become ready without this gate passing; the gate shows as waived, "
                "with your name and reason, on every page, in presenting mode and in the sign-off record.",
                f"It does not count as passing for the plan's cadence: Batch {batch.number + 1} still waits for "
                f"Batch {batch.number}'s CI and docs gates to pass, or for its approval.",
                "If the gate later reports a failure, the waiver is lifted. You can revoke it at any time.",
            ],
            action=request.path,
            fields={"reason": reason},
            confirm_label="Waive this gate",
            cancel_url=f"{batch.get_absolute_url()}#gate-{gate.pk}",
        )
    try:
        gate.waive(by=request.user, reason=reason)
    except WaiverError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Waived “{gate.label}”.")
    return redirect(f"{gate.batch.get_absolute_url()}#gate-{gate.pk}")


@require_POST
def gate_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke a gate's waiver with a written reason, after a confirmation."""
    gate = _get_gate_for(request, pk, "waive_gate")
    reason = request.POST.get("reason", "").strip()
    refusal = gate.revocation_refusal() or ("" if reason else "Write why the waiver is being revoked.")
    if not refusal and not _confirmed(request):
        batch = gate.batch
        return _confirm(
            request,
            title=f"Revoke the waiver on “{gate.label}”?",
            lead=f"Waived by {gate.waived_by.get_username()}: “{gate.waiver_reason}”. Your reason: “{reason}”.",
            consequences=[
                f"The gate counts by its own state again ({gate.get_state_display().lower()}), so Batch "
                f"{batch.number} needs it to pass before it can be marked ready or approved.",
                "The revocation and your reason are kept in the gate's history and the sign-off record.",
            ],
            action=request.path,
            fields={"reason": reason},
            confirm_label="Revoke the waiver",
            cancel_url=f"{batch.get_absolute_url()}#gate-{gate.pk}",
        )
    try:
        gate.revoke_waiver(by=request.user, reason=reason)
    except WaiverError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Revoked the waiver on “{gate.label}”.")
    return redirect(f"{gate.batch.get_absolute_url()}#gate-{gate.pk}")
