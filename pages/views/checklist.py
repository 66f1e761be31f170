"""The manual checklist's rows: tick, untick, note, and attach screenshot evidence."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from pages import readmodels
from pages.access import UNPROCESSABLE, HtmxHttpRequest, actor, item_for
from pages.uploadhandlers import evidence_upload_from, evidence_upload_view
from signoffs.evidence import EvidenceRejected, evidence_add
from signoffs.models import ChecklistItem
from signoffs.services import SignOffError, signoff_record


def _item_response(request: HtmxHttpRequest, item: ChecklistItem, *, error: str = "", note: str = "") -> HttpResponse:
    """htmx: the item's row, re-read so it shows who did what; otherwise back to the page."""
    batch = item.gate.batch
    if request.htmx:
        fresh = readmodels.board_items().select_related("gate__batch__plan").get(pk=item.pk)
        context = {
            "item": readmodels.item_row(fresh, fresh.gate.batch, error=error, note=note),
            "gate": fresh.gate,
            "batch": batch,
            "plan": batch.plan,
            "can": readmodels.permissions_for(request.user),
        }
        return render(request, "pages/batch.html#item", context, status=UNPROCESSABLE if error else 200)
    if error:
        messages.error(request, f"“{item.text}”: {error}")
    return redirect(f"{batch.get_absolute_url()}#item-{item.pk}")


@require_POST
def item_signoff(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Tick, untick or annotate a checklist item; every press appends one event to its history."""
    item = item_for(request, pk, "tick")
    action = request.POST.get("action", "")
    note = request.POST.get("note", "")
    try:
        event = signoff_record(item=item, user=actor(request), action=action, note=note)
    except SignOffError as exc:
        return _item_response(request, item, error=str(exc), note=note)
    if not request.htmx:
        messages.success(request, f"{event.get_action_display()} “{item.text}”.")
    return _item_response(request, item)


@evidence_upload_view  # the streaming size limit must be installed before the body is parsed
@require_POST
def evidence_upload(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Attach a screenshot to a checklist item; what is acceptable is evidence_add's decision."""
    item = item_for(request, pk, "upload_evidence")
    try:
        evidence = evidence_add(item=item, upload=evidence_upload_from(request), by=actor(request))
    except EvidenceRejected as exc:
        return _item_response(request, item, error=str(exc))
    if not request.htmx:
        messages.success(request, f"Stored {evidence.original_name} as evidence for “{item.text}”.")
    return _item_response(request, item)
