"""The web process's application (portal/serving.py): async views to Django's ASGI handler, the rest as WSGI."""

from __future__ import annotations

import re

import httpx
import pytest
from django.conf import settings
from django.urls import reverse

from portal.serving import _async_view
from tests.asgi_server import asgi_server

SLUG = "batch-plan-2025-10"


def test_only_async_views_go_to_the_asgi_handler():
    assert _async_view(reverse("pages:batch-events", kwargs={"slug": SLUG, "number": 1}))
    assert _async_view(reverse("pages:plan-events", kwargs={"slug": SLUG}))
    assert not _async_view(reverse("pages:batch", kwargs={"slug": SLUG, "number": 1}))
    assert not _async_view(reverse("pages:healthz"))
    assert not _async_view("/no/such/page/")  # Django's 404, from the WSGI side


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_ordinary_requests_are_served_whole_through_the_threads(sample_plan, stakeholder):
    stakeholder.set_password("a-long-enough-password")
    stakeholder.save()
    with asgi_server() as base, httpx.Client(base_url=base, timeout=10) as client:
        health = client.get("/healthz/")
        assert (health.status_code, health.text) == (200, "ok\n")
        assert client.get("/no/such/page/").status_code == 404
        # A form post with its body, and a response setting several cookies (session and CSRF).
        login = client.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)[1]
        signed_in = client.post(
            "/login/",
            data={"username": stakeholder.username, "password": "a-long-enough-password", "csrfmiddlewaretoken": token},
        )
        assert signed_in.status_code == 302, signed_in.text[:500]
        assert {"sessionid", "csrftoken"} <= set(client.cookies.keys())
        # A body larger than the endpoint takes is refused from its headers (RequestBodyGuardMiddleware).
        too_big = client.post(
            "/login/", content=b"x" * (settings.REQUEST_BODY_MAX_BYTES + 1), headers={"Content-Type": "text/plain"}
        )
        assert too_big.status_code == 413
        page = client.get(f"/plans/{SLUG}/batches/1/")
        assert page.status_code == 200
        assert "data-events=" in page.text
        # A file, read in chunks: the whole of it arrives.
        script = client.get("/static/js/gatehouse.js")
        assert script.status_code == 200
        assert script.text.rstrip().endswith("})();")
