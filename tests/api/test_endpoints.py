"""The read-only JSON API: api.endpoints (with api.auth and api.metrics)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batches.models import GateKind
from signoffs.models import ChecklistItem
from signoffs.services import signoff_record
from tests.api.conftest import Api
from tests.conftest import closed_port, redis_cache_at
from tests.journey import screenshot
from tests.pages.helpers import SLUG, client_for
from tokens.services import token_revoke

STATUS = f"/api/plans/{SLUG}/batches/1/status"


def _ticked_batch(journey):
    """Batch 1 started, its PRs failing CI, one item ticked and one screenshot uploaded."""
    from signoffs.evidence import evidence_add

    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.open_prs(batch)
    journey.report(batch, ci="failure")
    journey.sync(batch)
    item = ChecklistItem.objects.filter(gate__batch=batch).order_by("pk").first()
    signoff_record(item=item, user=journey.engineer, action="tick", note="Checked on staging")
    needs_file = ChecklistItem.objects.filter(gate__batch=batch).order_by("pk").last()
    evidence_add(item=needs_file, upload=screenshot(), by=journey.ops)
    return batch, item, needs_file


# -- who may call -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/plans",
        f"/api/plans/{SLUG}",
        f"/api/plans/{SLUG}/status",
        f"/api/plans/{SLUG}/batches",
        f"/api/plans/{SLUG}/batches/1",
        STATUS,
        f"/api/plans/{SLUG}/batches/1/gates",
        f"/api/plans/{SLUG}/batches/1/signoffs",
        f"/api/plans/{SLUG}/batches/1/evidence",
        f"/api/plans/{SLUG}/metrics",
    ],
)
def test_every_endpoint_refuses_a_missing_wrong_or_revoked_token_and_a_role_without_access(
    sample_plan, stakeholder, outsider, path
):
    missing = Client().get(path)
    assert missing.status_code == 401  # not a redirect to the login page
    assert missing["WWW-Authenticate"] == 'Bearer realm="Gatehouse API"'
    assert "Authorization: Bearer <token>" in missing.json()["detail"]
    wrong = Client().get(path, headers={"Authorization": "Bearer gth_not-a-real-token"})
    assert (wrong.status_code, wrong.json()["detail"]) == (
        401,
        "The token is not valid: it is wrong, or it was revoked.",
    )
    assert Client().get(path, headers={"Authorization": "Basic cml0YTpzZWNyZXQ="}).status_code == 401
    revoked = Api(stakeholder)
    assert revoked.get(path).status_code == 200
    token_revoke(token=revoked.token, by=stakeholder)
    assert revoked.get(path).status_code == 401
    forbidden = Api(outsider).get(path)
    assert forbidden.status_code == 403
    assert forbidden.json()["detail"].startswith("Only ")


def test_a_browser_session_is_not_an_api_credential(sample_plan, stakeholder):
    """Token authentication only: a session cookie would make the API a CSRF target for future writes."""
    assert client_for(stakeholder).get("/api/plans").status_code == 401


def test_the_api_is_read_only(sample_plan, as_stakeholder):
    response = as_stakeholder.client.post(
        "/api/plans", headers={"Authorization": f"Bearer {as_stakeholder.raw}"}, content_type="application/json"
    )
    assert response.status_code == 405


def test_unknown_plans_and_batches_are_404_with_a_sentence(sample_plan, as_stakeholder):
    assert as_stakeholder.get("/api/plans/nope").json() == {"detail": "There is no plan “nope”."}
    response = as_stakeholder.get(f"/api/plans/{SLUG}/batches/99/status")
    assert (response.status_code, response.json()["detail"]) == (404, f"There is no batch 99 in plan “{SLUG}”.")
    assert as_stakeholder.get(f"/api/plans/{SLUG}/batches/99/signoffs").status_code == 404


# -- what it answers --------------------------------------------------------------------------------


def test_plans_and_their_batches(sample_plan, as_stakeholder):
    plans = as_stakeholder.get("/api/plans").json()
    assert plans["count"] == 1
    (plan,) = plans["items"]
    assert (plan["slug"], plan["batch_count"]) == (SLUG, 4)
    assert plan["url"] == f"http://testserver/plans/{SLUG}/"
    batches = as_stakeholder.get(f"/api/plans/{SLUG}/batches").json()
    assert [b["number"] for b in batches["items"]] == [1, 2, 3, 4]
    second = batches["items"][1]
    assert second["state"] == "planned"
    assert second["blockers"] == ["Batch 1 has not started yet."]
    assert second["verdict"]["headline"] == "Not started"


def test_a_batch_in_detail_with_gates_checklists_and_history(journey, as_stakeholder):
    batch, item, _ = _ticked_batch(journey)
    body = as_stakeholder.get(f"/api/plans/{SLUG}/batches/1").json()
    assert body["state"] == "in_progress"
    assert body["goals"] == batch.goals
    assert [pr["number"] for pr in body["prs"]] == [1, 2]
    ci = next(g for g in body["gates"] if g["kind"] == GateKind.CI)
    assert ci["status"] == "failing"
    assert ci["detail"] == "PR #1: ci failure; PR #2: ci failure"
    assert f"CI gate “{ci['label']}” is failing." in body["blockers"]
    items = [i for g in body["gates"] for i in g["checklist"]]
    ticked = next(i for i in items if i["id"] == item.pk)
    assert (ticked["ticked"], ticked["ticked_by"]) == (True, "eddie")
    assert body["history"][0]["action"] == "started"
    assert body["history"][0]["by"] == "rita"
    gates = as_stakeholder.get(f"/api/plans/{SLUG}/batches/1/gates").json()
    assert gates["count"] == len(body["gates"])
    assert gates["items"] == body["gates"]


def test_signoffs_and_evidence_metadata(journey, as_stakeholder):
    _, item, needs_file = _ticked_batch(journey)
    signoffs = as_stakeholder.get(f"/api/plans/{SLUG}/batches/1/signoffs").json()
    assert signoffs["count"] == 1
    (tick,) = signoffs["items"]
    assert (tick["item"], tick["action"], tick["by"], tick["note"]) == (item.key, "tick", "eddie", "Checked on staging")
    assert tick["gate"] == item.gate.key
    evidence = as_stakeholder.get(f"/api/plans/{SLUG}/batches/1/evidence").json()
    (shot,) = evidence["items"]
    stored = needs_file.evidence.get()
    assert shot["item"] == needs_file.key
    assert (shot["format"], shot["width"], shot["height"], shot["current"]) == ("PNG", 640, 400, True)
    assert shot["stored_sha256"] == stored.stored_sha256
    assert shot["uploaded_by"] == "olga"
    assert shot["file_url"] == f"http://testserver{reverse('pages:evidence-file', kwargs={'pk': stored.pk})}"


def test_metrics_are_the_stored_metrics_and_no_data_is_null(
    journey, as_stakeholder, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        journey.approve(journey.batch(1))  # the approval computes and stores batch 1's metrics
    body = as_stakeholder.get(f"/api/plans/{SLUG}/metrics").json()
    assert body["source"] == "metrics"
    first, second = body["batches"][:2]
    batch = journey.batch(1)
    expected = int((batch.approved_at - batch.started_at).total_seconds())
    assert first["cycle_time"]["start_to_approved_seconds"] == expected
    assert body["median_start_to_approved_seconds"] == expected
    assert second["cycle_time"] == {
        "start_to_ready_seconds": None,
        "ready_to_approved_seconds": None,
        "start_to_approved_seconds": None,
    }
    # The PRs were read and the bot found nothing: a real zero. No Sentry project: no data, never zero.
    assert (first["ai_findings_blocking"], first["ai_findings_non_blocking"]) == (0, 0)
    assert first["escaped_defects"] is None
    assert second["ai_findings_blocking"] is None
    assert second["escaped_defects"] is None


# -- pagination and query counts ----------------------------------------------------------------------


def test_lists_are_paginated(big_plan, stakeholder):
    api = Api(stakeholder)
    page = api.get(f"/api/plans/{big_plan.slug}/batches").json()
    assert (page["count"], len(page["items"])) == (50, 50)
    page = api.client.get(
        f"/api/plans/{big_plan.slug}/batches",
        {"page": 3, "page_size": 20},
        headers={"Authorization": f"Bearer {api.raw}"},
    ).json()
    assert [b["number"] for b in page["items"]] == list(range(41, 51))


def _queries(api: Api, path: str) -> int:
    api.get(path)  # the token's first use of the minute writes its last-used time; count a steady request
    with CaptureQueriesContext(connection) as queries:
        response = api.get(path)
    assert response.status_code == 200, response.content
    return len(queries)


@pytest.mark.parametrize(
    "path",
    [
        "/api/plans",
        "/api/plans/{slug}",
        "/api/plans/{slug}/status",
        "/api/plans/{slug}/batches",
        "/api/plans/{slug}/batches/{n}",
        "/api/plans/{slug}/batches/{n}/status",
        "/api/plans/{slug}/batches/{n}/gates",
        "/api/plans/{slug}/batches/{n}/signoffs",
        "/api/plans/{slug}/batches/{n}/evidence",
        "/api/plans/{slug}/metrics",
    ],
)
def test_query_count_is_constant_on_the_50_batch_plan(small_plan, big_plan, stakeholder, path):
    api = Api(stakeholder)
    # The middle batch is the one in progress, with sign-offs and evidence.
    small = _queries(api, path.format(slug=small_plan.slug, n=2))
    big = _queries(api, path.format(slug=big_plan.slug, n=25))
    assert big == small <= 12


# -- conditional requests and the rate limit ----------------------------------------------------------


def test_status_answers_304_while_nothing_changed(journey, as_stakeholder):
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    first = as_stakeholder.get(STATUS)
    assert first.status_code == 200
    etag = first["ETag"]
    assert first.json()["verdict"]["headline"] == "Not ready"
    assert "no-cache" in first["Cache-Control"]
    assert "private" in first["Cache-Control"]
    assert "Authorization" in first["Vary"]
    unchanged = as_stakeholder.get(STATUS, **{"If-None-Match": etag})
    assert (unchanged.status_code, unchanged.content, unchanged["ETag"]) == (304, b"", etag)
    journey.open_prs(batch)
    journey.report(batch, ci="failure")
    journey.sync(batch)
    changed = as_stakeholder.get(STATUS, **{"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert changed.json()["tally"]["failing"] >= 1
    assert as_stakeholder.get(STATUS, **{"If-None-Match": changed["ETag"]}).status_code == 304


def test_the_plan_status_is_conditional_too(sample_plan, release_manager, as_stakeholder):
    path = f"/api/plans/{SLUG}/status"
    etag = as_stakeholder.get(path)["ETag"]
    assert as_stakeholder.get(path, **{"If-None-Match": f'"other", {etag}'}).status_code == 304
    sample_plan.batches.get(number=1).start(by=release_manager)
    assert as_stakeholder.get(path, **{"If-None-Match": etag}).status_code == 200


def test_each_token_is_rate_limited(sample_plan, stakeholder, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    api = Api(stakeholder)
    assert [api.get("/api/plans").status_code for _ in range(3)] == [200, 200, 200]
    limited = api.get("/api/plans")
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["detail"].startswith("Rate limit reached: 3 requests a minute per token.")
    assert Api(stakeholder, name="another").get("/api/plans").status_code == 200


# With Redis down the rate limit's counter raised, and every API request answered 500.
@pytest.mark.parametrize(
    "backend", ["portal.cache.OutageTolerantRedisCache", "django.core.cache.backends.redis.RedisCache"]
)
def test_with_redis_unreachable_the_rate_limit_counts_per_process_and_never_answers_500(
    sample_plan, stakeholder, settings, caplog, backend
):
    settings.CACHES = {"default": redis_cache_at(f"redis://127.0.0.1:{closed_port()}/0", backend)}
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    api = Api(stakeholder)
    with caplog.at_level("WARNING"):
        assert [api.get("/api/plans").status_code for _ in range(3)] == [200, 200, 200]
    assert "API rate limit counted per process: the cache is unreachable" in caplog.text
    # Still a limit, kept by this process until Redis is back.
    limited = api.get("/api/plans")
    assert limited.status_code == 429
    assert limited.json()["detail"].startswith("Rate limit reached: 3 requests a minute per token.")
    assert Api(stakeholder, name="another").get("/api/plans").status_code == 200


# -- the schema ----------------------------------------------------------------------------------------


def test_the_openapi_schema_validates_and_describes_every_endpoint(sample_plan, as_stakeholder, stakeholder):
    from openapi_spec_validator import validate

    response = as_stakeholder.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    assert set(schema["paths"]) >= {
        "/api/plans",
        "/api/plans/{slug}/batches/{number}/status",
        "/api/plans/{slug}/batches/{number}/evidence",
        "/api/plans/{slug}/metrics",
    }
    status = schema["paths"]["/api/plans/{slug}/batches/{number}/status"]["get"]
    assert {"200", "304", "401", "403", "404", "429"} <= set(status["responses"])
    assert schema["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    # A signed-in browser may read it too; a stranger may not.
    assert client_for(stakeholder).get("/api/openapi.json").status_code == 200
    assert Client().get("/api/openapi.json").status_code == 401


def test_the_light_status_says_what_the_full_batch_says(journey, as_stakeholder):
    """The status endpoint loads less (no checklist histories) but must agree with the review page's read-model."""
    _ticked_batch(journey)
    for number in (1, 2):  # in progress with a failing gate; planned, waiting for batch 1
        status = as_stakeholder.get(f"/api/plans/{SLUG}/batches/{number}/status").json()
        detail = as_stakeholder.get(f"/api/plans/{SLUG}/batches/{number}").json()
        for field in ("state", "verdict", "tally", "blockers", "url"):
            assert status[field] == detail[field], field
        assert [g["status"] for g in status["gates"]] == [g["status"] for g in detail["gates"]]
    assert status["blockers"] == ["Waiting for Batch 1: 1 CI gate not passing."]
