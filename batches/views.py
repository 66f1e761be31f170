from __future__ import annotations

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from batches.models import Batch, Gate, Plan


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
