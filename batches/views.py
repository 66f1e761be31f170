from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from batches.models import Batch, Gate, Plan
from batches.services import GateWaiveError, gate_waive
from signoffs.roles import denial_reason, user_can


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "batches/home.html", {"plans": Plan.objects.all()})


@require_GET
def plan_overview(request: HttpRequest, slug: str) -> HttpResponse:
    plan = get_object_or_404(Plan, slug=slug)
    batches = plan.batches.prefetch_related("gates", "prs")
    return render(request, "batches/plan.html", {"plan": plan, "batches": batches})


@require_GET
def batch_review(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    batch = get_object_or_404(
        Batch.objects.select_related("plan").prefetch_related(
            "prs", Prefetch("gates", queryset=Gate.objects.prefetch_related("prs", "items"))
        ),
        plan__slug=slug,
        number=number,
    )
    return render(request, "batches/batch.html", {"plan": batch.plan, "batch": batch})


def _get_gate_for(request: HttpRequest, pk: int, action: str) -> Gate:
    """The gate ``pk``, if the user may ``action`` it; 404 or PermissionDenied otherwise."""
    gate = get_object_or_404(Gate.objects.select_related("batch__plan"), pk=pk)
    if not user_can(request.user, action):
        raise PermissionDenied(denial_reason(action))
    return gate


@require_POST
def gate_waive_view(request: HttpRequest, pk: int) -> HttpResponse:
    gate = _get_gate_for(request, pk, "waive_gate")
    try:
        gate_waive(gate=gate, by=request.user, reason=request.POST.get("reason", ""))
    except GateWaiveError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Waived “{gate.label}”.")
    return redirect(gate.batch.get_absolute_url())
