from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from batches.review import item_decorate, permissions_for, review_items
from signoffs.evidence import EvidenceRejected, evidence_add
from signoffs.models import ChecklistItem, Evidence
from signoffs.roles import denial_reason, user_can
from signoffs.services import SignOffError, signoff_record
from signoffs.uploadhandlers import evidence_upload_from, evidence_upload_view


@require_GET
def evidence_file(request: HttpRequest, pk: int) -> FileResponse:
    """Evidence bytes, only for signed-in users with a role; never from a public path."""
    if not user_can(request.user, "view_evidence"):
        raise PermissionDenied(denial_reason("view_evidence"))
    evidence = get_object_or_404(Evidence, pk=pk)
    response = FileResponse(
        evidence.file.open("rb"),
        content_type=evidence.content_type,
        as_attachment=False,
        filename=f"evidence-{evidence.pk}.{evidence.format_extension}",
    )
    # The bytes were re-encoded by Pillow, but they are still user-supplied:
    # never sniffed into another type, never able to run script or load
    # anything if opened as a document, never cached by shared caches. The
    # Content-Disposition filename is generated, never the uploader's.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = "private, max-age=3600"
    return response


# -- checklist actions (the review page's item rows) ---------------------------------

# A refused form is a 422, which base.html tells htmx to swap like a 200.
UNPROCESSABLE = 422


def _item_for(request: HttpRequest, pk: int, action: str) -> ChecklistItem:
    """The item with its history and evidence, after checking the viewer may ``action``."""
    if not user_can(request.user, action):
        raise PermissionDenied(denial_reason(action))
    return get_object_or_404(ChecklistItem.objects.select_related("gate__batch__plan"), pk=pk)


def _item_response(request: HttpRequest, item: ChecklistItem, *, error: str = "", note: str = "") -> HttpResponse:
    """htmx: the item's row, re-read so it shows who did what; otherwise back to the page."""
    batch = item.gate.batch
    if request.htmx:
        fresh = review_items().select_related("gate__batch__plan").get(pk=item.pk)
        context = {
            "item": item_decorate(fresh, fresh.gate.batch, error=error, note=note),
            "gate": fresh.gate,
            "batch": batch,
            "plan": batch.plan,
            "can": permissions_for(request.user),
        }
        return render(request, "batches/batch.html#item", context, status=UNPROCESSABLE if error else 200)
    if error:
        messages.error(request, f"“{item.text}”: {error}")
    return redirect(f"{batch.get_absolute_url()}#item-{item.pk}")


@require_POST
def item_signoff(request: HttpRequest, pk: int) -> HttpResponse:
    """Tick, untick or annotate a checklist item; every press appends one event to its history."""
    item = _item_for(request, pk, "tick")
    action = request.POST.get("action", "")
    note = request.POST.get("note", "")
    try:
        event = signoff_record(item=item, user=request.user, action=action, note=note)
    except SignOffError as exc:
        return _item_response(request, item, error=str(exc), note=note)
    if not request.htmx:
        messages.success(request, f"{event.get_action_display()} “{item.text}”.")
    return _item_response(request, item)


@evidence_upload_view  # the streaming size limit must be installed before the body is parsed
@require_POST
def evidence_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """Attach a screenshot to a checklist item; what is acceptable is evidence_add's decision."""
    item = _item_for(request, pk, "upload_evidence")
    try:
        evidence = evidence_add(item=item, upload=evidence_upload_from(request), by=request.user)
    except EvidenceRejected as exc:
        return _item_response(request, item, error=str(exc))
    if not request.htmx:
        messages.success(request, f"Stored {evidence.original_name} as evidence for “{item.text}”.")
    return _item_response(request, item)
