"""The fake server: routes by method and path, records every request with its body."""

from __future__ import annotations

import json

import httpx
import pytest

from providers.fake import FakeProviders


@pytest.fixture
def fake():
    server = FakeProviders().start()
    yield server
    server.stop()


def test_post_and_patch_are_routed_by_method_and_recorded(fake):
    fake.json("/github/repos/o/r/statuses/abc", {"id": 1, "state": "success"}, method="POST", status=201)
    fake.json("/github/repos/o/r/issues/comments/9", {"id": 9, "body": "edited"}, method="PATCH")
    with httpx.Client(base_url=fake.url) as client:
        created = client.post("/github/repos/o/r/statuses/abc", json={"state": "success", "context": "gatehouse"})
        edited = client.patch("/github/repos/o/r/issues/comments/9", json={"body": "edited"})
        # The same path with another method is another route: not set, so 404 like the real API.
        missing = client.get("/github/repos/o/r/statuses/abc")
    assert (created.status_code, created.json()) == (201, {"id": 1, "state": "success"})
    assert "ETag" not in created.headers  # only GETs are conditional
    assert edited.json()["body"] == "edited"
    assert missing.status_code == 404
    posts = fake.requests_to("/github/repos/o/r/statuses", method="POST")
    assert [s.json() for s in posts] == [{"state": "success", "context": "gatehouse"}]
    assert [s.method for s in fake.requests_to("/github")] == ["POST", "PATCH", "GET"]


def test_gets_stay_conditional(fake):
    fake.json("/github/rate_limit", {"rate": {}})
    with httpx.Client(base_url=fake.url) as client:
        first = client.get("/github/rate_limit")
        second = client.get("/github/rate_limit", headers={"If-None-Match": first.headers["ETag"]})
    assert (first.status_code, second.status_code) == (200, 304)
    assert fake.counted() == 1


def test_only_the_methods_it_serves_can_be_routed(fake):
    with pytest.raises(ValueError, match="not OPTIONS"):
        fake.raw("/github/x", "{}", method="OPTIONS")


def test_a_body_that_is_too_large_is_refused(fake):
    with httpx.Client(base_url=fake.url) as client:
        response = client.post("/github/x", content=json.dumps({"a": "x" * 1_100_000}))
    assert response.status_code == 400


def test_the_fake_is_a_leaf_that_imports_nothing_from_django_or_the_portal():
    import subprocess
    import sys

    from tests.conftest import REPO

    portal = "{'django', 'batches', 'signoffs', 'portal', 'demo'}"
    code = (
        "import sys, providers.fake; "
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {portal}); "
        "print(loaded); sys.exit(bool(loaded))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
