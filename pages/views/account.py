"""Accounts: personal API tokens (create, shown once; list with last use; revoke), and sign-in lockouts."""

from __future__ import annotations

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pages.access import UNPROCESSABLE, HtmxHttpRequest, actor, require
from tokens.models import ApiToken
from tokens.services import TokenError, token_create, token_revoke


@require_http_methods(["GET", "POST"])
def api_tokens(request: HtmxHttpRequest) -> HttpResponse:
    """List the viewer's tokens; POSTing a name creates one and shows it, this once, on the answer."""
    require(request, "view")  # a token can do what its owner's role can: nothing without one
    user = actor(request)
    context: dict = {"name": ""}
    status = 200
    if request.method == "POST":
        try:
            token, raw = token_create(user=user, name=request.POST.get("name", ""))
        except TokenError as exc:
            context.update(error=str(exc), name=request.POST.get("name", "")[:100])
            status = UNPROCESSABLE
        else:
            context.update(created=token, raw_token=raw)
    context["tokens"] = ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")
    response = render(request, "pages/tokens.html", context, status=status)
    # The one answer that carries a token must not be kept by any cache or the browser's history.
    patch_cache_control(response, no_store=True, private=True)
    return response


@require_POST
def api_token_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Revoke one of the viewer's own tokens (anyone else's is a 404: its existence is not theirs to know)."""
    require(request, "view")
    user = actor(request)
    token = ApiToken.objects.filter(pk=pk, user=user).first()
    if token is None:
        raise Http404("No such token.")
    try:
        token_revoke(token=token, by=user)
    except TokenError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Revoked “{token.name}”: it no longer works.")
    return redirect("pages:api-tokens")


def _current_lockouts():
    """Counts of failed sign-ins that lock an account or address out now (within the cool-down)."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    return AccessAttempt.objects.filter(
        failures_since_start__gte=settings.LOGIN_FAILURE_LIMIT, attempt_time__gte=since
    ).order_by("-attempt_time", "-pk")


@require_GET
def login_lockouts(request: HtmxHttpRequest) -> HttpResponse:
    """Release managers: the accounts and addresses locked out of signing in now, each with a Clear button."""
    require(request, "manage_lockouts")
    context = {
        "lockouts": list(_current_lockouts()[:200]),
        "failure_limit": settings.LOGIN_FAILURE_LIMIT,
        "minutes": settings.LOGIN_LOCKOUT_MINUTES,
    }
    return render(request, "pages/lockouts.html", context)


@require_POST
def login_lockout_clear(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Lift one lockout before its cool-down ends (its failure count is forgotten)."""
    require(request, "manage_lockouts")
    attempt = AccessAttempt.objects.filter(pk=pk).first()
    if attempt is None:
        raise Http404("No such lockout.")
    attempt.delete()
    who = attempt.username or attempt.ip_address
    messages.success(request, f"Cleared the lockout of {who}: signing in works again.")
    return redirect("pages:login-lockouts")
