"""A plan's notifications: what it announces and where (release managers), and the delivery log."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from notifications.models import Delivery
from notifications.services import plan_notifications_configure, plan_notifications_for
from pages.access import UNPROCESSABLE, HtmxHttpRequest, actor, plan_for
from pages.notification_forms import NotificationSettingsForm

LOG_PAGE_SIZE = 25


@require_http_methods(["GET", "POST"])
def plan_notifications(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The plan's notification settings and, below, every delivery with its status, attempts and error."""
    plan = plan_for(request, slug, "configure_plan")
    preferences = plan_notifications_for(plan.pk)
    form = NotificationSettingsForm.for_preferences(
        preferences, data=request.POST if request.method == "POST" else None
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = plan_notifications_configure(
            plan_id=plan.pk,
            by=actor(request),
            enabled=data["enabled"],
            events=data["events"],
            email_recipients=data["email_recipients"],
            stale_after_minutes=data["stale_after_minutes"],
            slack_webhook_url=data["slack_webhook_url"] or None,
            remove_slack_webhook=data["remove_slack_webhook"],
        )
        state = "on" if saved.enabled else "off"
        messages.success(request, f"Saved the notification settings: notifications are {state} for this plan.")
        return redirect("pages:plan-notifications", slug=plan.slug)
    log = Paginator(Delivery.objects.filter(plan=plan).order_by("-created_at", "-pk"), LOG_PAGE_SIZE)
    context = {
        "plan": plan,
        "form": form,
        "preferences": preferences,
        "log": log.get_page(request.GET.get("page")),
    }
    status = UNPROCESSABLE if request.method == "POST" else 200
    return render(request, "pages/notifications.html", context, status=status)
