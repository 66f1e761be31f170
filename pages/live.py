"""Pages that follow changes made elsewhere: htmx polls their ``live`` partial."""

from __future__ import annotations

import hashlib
import re

from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.cache import patch_cache_control, patch_vary_headers
from django_htmx.http import HttpResponseStopPolling

from pages.access import HtmxHttpRequest

POLL_SECONDS = 3
CSRF_INPUT = re.compile(r'<input type="hidden" name="csrfmiddlewaretoken" value="[^"]*">')


def live_response(request: HtmxHttpRequest, template: str, context: dict, *, stop: bool = False) -> HttpResponse:
    """A page, or for an htmx poll its ``live`` partial of out-of-band status regions.

    ``stop``: the page has reached a final state; once the poller shows it, polling stops.

    The poller sends the version of what it shows; an unchanged region set is a
    204, which htmx ignores, so nothing is swapped and nothing flickers. Inputs
    (notes, file pickers) are never inside a polled region, so nothing typed is lost.
    """
    response: HttpResponse
    if not request.htmx:
        response = render(request, template, {**context, "poll_seconds": POLL_SECONDS})
    else:
        body = render_to_string(f"{template}#live", {**context, "oob": True}, request=request)
        # A form's CSRF token is masked afresh on every render; leave it out of the
        # version or a page with buttons would never look unchanged.
        version = hashlib.blake2b(CSRF_INPUT.sub("", body).encode(), digest_size=8).hexdigest()
        if stop and request.GET.get("v") == version:
            # A final state (an approved batch) the page already shows: tell htmx to
            # stop polling. A page that does not show it yet gets it first (the
            # review's decision appears on the projector before the polling ends).
            response = HttpResponseStopPolling()
        elif request.GET.get("v") == version:
            response = HttpResponse(status=204)
        else:
            poller = render_to_string(
                "includes/poller.html",
                {"version": version, "oob": True, "poll_seconds": POLL_SECONDS},
                request=request,
            )
            response = HttpResponse(body + poller)
    patch_vary_headers(response, ["HX-Request"])
    patch_cache_control(response, private=True, no_cache=True)
    return response
