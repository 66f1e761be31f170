"""Shared helpers for the page tests: clients per persona, page URLs, text of a page, query counts."""

from __future__ import annotations

from django.core.cache import cache, caches
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

HTMX = {"HTTP_HX_REQUEST": "true"}
SLUG = "batch-plan-2025-10"


def client_for(user=None, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    if user is not None:
        client.force_login(user)
    return client


def page_urls():
    return {
        "home": reverse("pages:home"),
        "plan": reverse("pages:plan", kwargs={"slug": SLUG}),
        "batch": reverse("pages:batch", kwargs={"slug": SLUG, "number": 1}),
        "present": reverse("pages:present", kwargs={"slug": SLUG, "number": 1}),
        "healthz": reverse("pages:healthz"),
    }


def move_url(move: str, number: int = 1) -> str:
    return reverse(f"pages:batch-{move}", kwargs={"slug": SLUG, "number": number})


def link_url(pr_number: int = 1, number: int = 1) -> str:
    return reverse("pages:pr-link", kwargs={"slug": SLUG, "number": number, "pr_number": pr_number})


# -- pages: who may see them -------------------------------------------------------


def page_text(response) -> str:
    return " ".join(response.content.decode().split())


def query_count(client, url) -> int:
    """Queries a page costs when nothing of it is cached (the worst case)."""
    cache.clear()
    caches["local"].clear()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)
