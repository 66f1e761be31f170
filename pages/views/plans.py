"""The plan list, plan import (preview, then confirm), a plan's overview and its settings."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.contrib import messages
from django.core import signing
from django.db import transaction
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from batches.models import BatchState, Gate, GateKind, Plan
from batches.plan_import import PlanImportError, plan_import, plan_slug_for
from batches.plan_preview import plan_import_preview
from batches.plan_settings import gate_check_names_configure, plan_configure
from pages import readmodels
from pages.access import UNPROCESSABLE, HtmxHttpRequest, actor, plan_for, require
from pages.forms import PlanSettingsForm
from pages.live import live_response, versioned_page

PLAN_MAX_BYTES = 1_048_576


def _home_context(request: HtmxHttpRequest) -> dict:
    plans = list(Plan.objects.annotate(batch_count=Count("batches")).order_by("title"))
    return {"statuses": readmodels.home_statuses(plans), "can": readmodels.permissions_for(request.user)}


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    require(request, "view")
    return render(request, "pages/home.html", _home_context(request))


# How long a preview can be confirmed; after that the file is uploaded again.
PREVIEW_MAX_AGE_SECONDS = 60 * 60


def _plan_signing_salt(request: HtmxHttpRequest) -> str:
    # Per user: a previewed plan can only be confirmed by whoever previewed it.
    return f"batches.plan-import:{request.user.pk}"


def _import_response(request: HtmxHttpRequest, context: dict, *, status: int = 200) -> HttpResponse:
    template = "pages/import.html#import" if request.htmx else "pages/import.html"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_http_methods(["GET", "POST"])
def plan_import_page(request: HtmxHttpRequest) -> HttpResponse:
    """Import (or re-import) a plan in two steps: preview, then confirm.

    GET shows the upload form. POSTing a file shows what importing it would do,
    writing nothing; the preview's form carries the document back, signed, and
    POSTing that imports exactly what was previewed. Every step answers at this
    one address, which also answers GET, so reloading after any of them (a
    refused file without JavaScript, say) shows the page instead of a 405.
    """
    require(request, "import_plan")
    if request.method == "GET":
        return _import_response(request, {})
    if "signed_plan" in request.POST:
        return _plan_import_confirm(request)
    return _plan_import_preview(request)


def _plan_import_preview(request: HtmxHttpRequest) -> HttpResponse:
    upload = request.FILES.get("file")
    if upload is None:
        error = "Choose the plan’s markdown file to import."
    elif (upload.size or 0) > PLAN_MAX_BYTES:
        error = f"The file is {(upload.size or 0) / 1_048_576:.1f} MB; a plan may be at most 1 MB."
    else:
        source = upload.read()
        name = upload.name or "plan.md"
        try:
            preview = plan_import_preview(source=source, slug=plan_slug_for(name), source_name=name, by=actor(request))
        except PlanImportError as exc:
            error = f"{name} was not imported: {exc}"
        else:
            # The preview parsed it, so it is UTF-8; "utf-8" (not "-sig") keeps a BOM, so the
            # confirmed bytes, and the stored SHA-256, are exactly the uploaded file's.
            signed = signing.dumps(
                {"name": name, "source": source.decode("utf-8")},
                salt=_plan_signing_salt(request),
                compress=True,
            )
            return _import_response(request, {"preview": preview, "signed_plan": signed})
    return _import_response(request, {"import_error": error}, status=UNPROCESSABLE)


def _previewed_plan(request: HtmxHttpRequest) -> tuple[str, bytes]:
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


def _plan_import_confirm(request: HtmxHttpRequest) -> HttpResponse:
    try:
        name, source = _previewed_plan(request)
    except ValueError as exc:
        return _import_response(request, {"import_error": str(exc)}, status=UNPROCESSABLE)
    # Checked again from the start: the plan, or the database, may have changed since the preview.
    try:
        summary = plan_import(source=source, slug=plan_slug_for(name), source_name=name, by=actor(request))
    except PlanImportError as exc:
        return _import_response(request, {"import_error": f"{name} was not imported: {exc}"}, status=UNPROCESSABLE)
    verb = "Imported" if summary.created else "Re-imported"
    messages.success(
        request, f"{verb} “{summary.plan.title}”: {summary.batches} batches, {summary.prs} PRs, {summary.gates} gates."
    )
    url = summary.plan.get_absolute_url()
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@dataclass
class CheckNameRow:
    """A CI gate on the settings page: the check name as typed, and what is wrong with it."""

    gate: Gate
    value: str
    error: str


def _ci_gates_for_settings(plan: Plan) -> list[Gate]:
    """CI gates of the plan's open batches: their check names are set on the settings page."""
    return list(
        Gate.objects.filter(batch__plan=plan, kind=GateKind.CI)
        .exclude(batch__state=BatchState.APPROVED)
        .select_related("batch")
        .order_by("batch__number", "position")
    )


@require_http_methods(["GET", "POST"])
def plan_settings(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """A plan's integrations and the gates they add to every batch; release managers edit them here."""
    plan = plan_for(request, slug, "configure_plan")
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
                changes = plan_configure(plan=plan, by=actor(request), values=form.cleaned_data)
                renamed = gate_check_names_configure(plan=plan, check_names=check_names)
            summary = "Saved the plan settings."
            if renamed:
                summary += f" {renamed} CI check name{'s' if renamed != 1 else ''} changed."
            messages.success(request, " ".join([summary, *changes]))
            return redirect("pages:plan-settings", slug=plan.slug)
    rows = [
        CheckNameRow(gate, check_names.get(gate.pk, gate.check_name), check_errors.get(gate.pk, ""))
        for gate in ci_gates
    ]
    status = UNPROCESSABLE if request.method == "POST" else 200
    return render(request, "pages/settings.html", {"plan": plan, "form": form, "ci_gates": rows}, status=status)


@require_GET
def plan_overview(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    require(request, "view")

    def context(plan: Plan) -> dict:
        return {
            "plan": plan,
            # Called only when the live region is rendered, not when its render is cached.
            "summaries": functools.cache(lambda: readmodels.plan_summaries(plan, request.user)),
            "can": readmodels.permissions_for(request.user),
            "live_html": "",
        }

    return live_response(request, "pages/plan.html", slug=slug, context=context)


@require_GET
def plan_roadmap(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The plan's batches on a timeline, planned order beside the actual sequence, and its principles."""
    require(request, "view")
    return versioned_page(
        request,
        "pages/roadmap.html",
        slug=slug,
        context=lambda plan: {
            "plan": plan,
            "roadmap": readmodels.plan_roadmap(plan),
            "can": readmodels.permissions_for(request.user),
        },
    )
