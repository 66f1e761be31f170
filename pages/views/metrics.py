"""A plan's delivery metrics: the page with its charts and tables, the CSV export, and the recompute button.

The page reads the stored metrics only (``metrics.report``): it never calls a
provider, so it costs the same few queries whatever the plan's size. The
button recomputes them from the providers, for release managers.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from metrics.report import plan_report, report_csv
from metrics.services import plan_metrics_recompute
from pages.access import HtmxHttpRequest, plan_for, require
from pages.live import versioned_page
from portal.roles import user_can


@require_GET
def plan_metrics(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    require(request, "view")
    return versioned_page(
        request,
        "pages/metrics.html",
        slug=slug,
        context=lambda plan: {
            "plan": plan,
            "report": plan_report(plan),
            "can_recompute": user_can(request.user, "recompute_metrics"),
        },
    )


@require_GET
def plan_metrics_csv(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The page's rows as CSV (an empty cell is no data)."""
    plan = plan_for(request, slug)
    response = HttpResponse(report_csv(plan_report(plan)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{plan.slug}-metrics.csv"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
def plan_metrics_recompute_view(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Recompute every approved batch's metrics from the providers now; a provider error leaves no data, and says so."""
    plan = plan_for(request, slug, "recompute_metrics")
    count = plan_metrics_recompute(plan=plan)
    stale = plan.batches.filter(metrics__stale=True).count()
    text = f"Recomputed the metrics of {count} approved batch{'es' if count != 1 else ''}."
    if stale:
        messages.warning(request, f"{text} {stale} could not read every provider: see the notes below.")
    else:
        messages.success(request, text)
    return redirect("pages:plan-metrics", slug=plan.slug)
