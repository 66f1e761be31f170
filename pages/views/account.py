"""The viewer's own account: personal API tokens (create, shown once; list with last use; revoke)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_http_methods, require_POST

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
