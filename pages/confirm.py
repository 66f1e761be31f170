"""The confirmation step of an action that bends a rule (waive, revoke, start with an override)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def confirm_page(
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
    """A plain page whose form posts the same fields again plus ``confirmed``.

    It works without JavaScript, and htmx-driven pages reach it by a normal submit.
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
    return render(request, "pages/confirm.html", context)


def confirmed(request: HttpRequest) -> bool:
    return request.POST.get("confirmed") == "yes"
