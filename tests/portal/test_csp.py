"""Content-Security-Policy: the header on every page, and no inline script in any template."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

TEMPLATES = sorted((REPO / "templates").rglob("*.html")) + sorted((REPO / "static").rglob("*.html"))
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\s(on[a-z]+|hx-on[:\-][\w:\-]*)\s*=", re.IGNORECASE)


# Finding 9: no Content-Security-Policy on HTML pages.
@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/login/"])
def test_pages_carry_a_policy_that_allows_no_inline_script(client, engineer, path):
    client.force_login(engineer)
    policy = client.get(path)["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-eval" not in policy
    assert "'unsafe-inline'" not in directives["script-src"] + directives["style-src"]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_template_has_inline_script_or_event_handlers(template):
    text = template.read_text()
    assert not INLINE_SCRIPT.search(text), "move the script into a static .js file"
    assert not EVENT_HANDLER.search(text), "attach the handler from a static .js file"


def test_htmx_is_configured_for_the_policy():
    base = (REPO / "templates" / "base.html").read_text()
    assert '"includeIndicatorStyles":false' in base
    assert '"allowEval":false' in base
