"""Waiving a gate and revoking a waiver: release managers, each after a confirmation page."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from batches.models import WaiverError
from pages.access import HtmxHttpRequest, actor, gate_for
from pages.confirm import confirm_page, confirmed


@require_POST
def gate_waive_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Waive a gate with a written reason, after a confirmation that says what a waiver does and does not do."""
    gate = gate_for(request, pk, "waive_gate")
    reason = request.POST.get("reason", "").strip()
    refusal = gate.waiver_refusal() or ("" if reason else "Write why the gate is being waived.")
    if not refusal and not confirmed(request):
        batch = gate.batch
        return confirm_page(
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
        gate.waive(by=actor(request), reason=reason)
    except WaiverError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Waived “{gate.label}”.")
    return redirect(f"{gate.batch.get_absolute_url()}#gate-{gate.pk}")


@require_POST
def gate_revoke_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Revoke a gate's waiver with a written reason, after a confirmation."""
    gate = gate_for(request, pk, "waive_gate")
    reason = request.POST.get("reason", "").strip()
    refusal = gate.revocation_refusal() or ("" if reason else "Write why the waiver is being revoked.")
    if not refusal and not confirmed(request):
        batch = gate.batch
        return confirm_page(
            request,
            title=f"Revoke the waiver on “{gate.label}”?",
            lead=f"Waived by {gate.waived_by or 'someone'}: “{gate.waiver_reason}”. Your reason: “{reason}”.",
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
        gate.revoke_waiver(by=actor(request), reason=reason)
    except WaiverError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Revoked the waiver on “{gate.label}”.")
    return redirect(f"{gate.batch.get_absolute_url()}#gate-{gate.pk}")
