"""A plan's release checklist: read it, import it from a Markdown file, edit its items (release managers)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from batches.models import Plan
from pages import readmodels
from pages.access import UNPROCESSABLE, HtmxHttpRequest, actor, plan_for
from pages.review_readmodels import checklist_page
from reviews.checklist import (
    SOURCE_MAX_BYTES,
    ChecklistError,
    checklist_import,
    checklist_item_add,
    checklist_item_edit,
    checklist_item_retire,
)
from reviews.models import ReleaseCheckItem


def _context(request: HtmxHttpRequest, plan: Plan, **extra) -> dict:
    return {"plan": plan, "page": checklist_page(plan), "can": readmodels.permissions_for(request.user), **extra}


@require_GET
def checklist_view(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    plan = plan_for(request, slug)
    return render(request, "pages/checklist.html", _context(request, plan))


@require_POST
def checklist_import_view(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Import (or re-import) the checklist from an uploaded Markdown file; a bad file writes nothing."""
    plan = plan_for(request, slug, "edit_checklist")
    upload = request.FILES.get("file")
    error = ""
    if upload is None:
        error = "Choose a Markdown file to import."
    elif upload.size is not None and upload.size > SOURCE_MAX_BYTES:
        error = f"{upload.name} is larger than {SOURCE_MAX_BYTES // 1000} kB; a checklist is a short text file."
    else:
        try:
            result = checklist_import(plan=plan, source=upload.read(), source_name=upload.name or "", by=actor(request))
        except ChecklistError as exc:
            error = str(exc)
    if error or upload is None:
        return render(
            request, "pages/checklist.html", _context(request, plan, import_error=error), status=UNPROCESSABLE
        )
    messages.success(request, f"Checklist imported from {upload.name}: {result.summary()}.")
    return redirect("pages:checklist", slug=plan.slug)


@require_POST
def checklist_edit_view(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Add an item, change an item's words, or take an item off the checklist; the history keeps every version."""
    plan = plan_for(request, slug, "edit_checklist")
    action = request.POST.get("action", "")
    item = None
    error = ""
    try:
        if action == "add":
            item = checklist_item_add(
                plan=plan, heading=request.POST.get("heading", ""), text=request.POST.get("text", ""), by=actor(request)
            )
        elif action in ("edit", "retire"):
            item_id = request.POST.get("item", "")
            item = get_object_or_404(ReleaseCheckItem, pk=item_id if item_id.isdigit() else 0, checklist__plan=plan)
            if action == "edit":
                checklist_item_edit(item=item, text=request.POST.get("text", ""), by=actor(request))
            else:
                checklist_item_retire(item=item, by=actor(request))
        else:
            error = "Unknown checklist change."
    except ChecklistError as exc:
        error = str(exc)
    if request.htmx and action == "edit" and item is not None:
        context = _context(request, plan)
        row = next((i for i in context["page"].items if i.pk == item.pk), None)
        context.update(item=row, item_error=error)
        if row is not None:
            return render(request, "pages/checklist.html#item", context, status=UNPROCESSABLE if error else 200)
    if error:
        if request.htmx:
            return render(
                request, "pages/checklist.html", _context(request, plan, edit_error=error), status=UNPROCESSABLE
            )
        messages.error(request, error)
    else:
        messages.success(request, {"add": "Item added.", "edit": "Item changed.", "retire": "Item removed."}[action])
    return redirect("pages:checklist", slug=plan.slug)
