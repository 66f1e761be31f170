"""Who may do what on a page: one helper per object, checked in every view before any data is touched.

A template hiding a button is never the permission check, because any partial
can be requested directly.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.middleware import HtmxDetails

from batches.models import Batch, Gate, Plan
from pages import readmodels
from portal.roles import Actor, denial_reason, user_can
from signoffs.models import ChecklistItem

# The status code for a form the server refused: htmx is configured (base.html)
# to swap it like a 200, so the error shows in place; browsers show it too.
UNPROCESSABLE = 422


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware (``request.htmx``)."""

    htmx: HtmxDetails


def actor(request: HttpRequest) -> Actor:
    """The signed-in person acting (every page is behind LoginRequiredMiddleware)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user


def require(request: HttpRequest, action: str) -> None:
    if not user_can(request.user, action):
        raise PermissionDenied(denial_reason(action))


def plan_for(request: HttpRequest, slug: str, action: str = "view") -> Plan:
    require(request, action)
    return get_object_or_404(Plan, slug=slug)


def batch_for(request: HttpRequest, slug: str, number: int, action: str = "view") -> Batch:
    """The batch with everything its pages show, after checking the viewer may ``action``."""
    require(request, action)
    return get_object_or_404(readmodels.board_batches(), plan__slug=slug, number=number)


def gate_for(request: HttpRequest, pk: int, action: str) -> Gate:
    """The gate ``pk``, if the user may ``action`` it; 404 or PermissionDenied otherwise."""
    require(request, action)
    return get_object_or_404(Gate.objects.select_related("batch__plan", "waived_by"), pk=pk)


def item_for(request: HttpRequest, pk: int, action: str) -> ChecklistItem:
    """The checklist item, after checking the viewer may ``action``."""
    require(request, action)
    return get_object_or_404(ChecklistItem.objects.select_related("gate__batch__plan"), pk=pk)


def back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    """Redirect to the form's ``next`` (same site only) or ``default``."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        target = default
    return redirect(target)
