"""The plan list, plan import (preview, confirm), a plan's overview and its settings page: pages.views.plans."""

from __future__ import annotations

import datetime
import hashlib
import re
import time

import pytest
from django.contrib.messages import get_messages
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from batches.models import Batch, Gate, GateKind, Plan, PlannedPR
from batches.plan_settings import plan_configure
from signoffs.models import ChecklistItem
from signoffs.services import signoff_record
from tests.batches.test_import_plan import snapshot
from tests.conftest import SAMPLE_PLAN
from tests.factories import PASSWORD, UserFactory
from tests.pages.helpers import HTMX, SLUG, client_for, move_url, page_text, page_urls, query_count


def test_overview_lists_batches_in_order_with_state_tally_blockers_and_next_action(journey):
    batch1 = journey.batch(1)
    batch1.start(by=journey.release_manager)
    journey.open_prs(batch1)
    journey.report(batch1, ci=None, ai="failure")
    journey.sync(batch1)
    html = client_for(journey.release_manager).get(page_urls()["plan"]).content.decode()
    positions = [html.index(f'id="batch-{n}"') for n in (1, 2, 3, 4)]
    assert positions == sorted(positions)
    assert "In progress" in html
    assert "1 failing" in html
    assert "Waiting for Batch 1: 1 CI gate not passing." in html
    assert "Batch 2 has not started yet." in html  # Batch 3's blocker
    assert "Chase the outstanding gates." in html


def test_overview_offers_a_start_button_only_to_release_managers(sample_plan, release_manager, engineer):
    start = move_url("start", 1)
    assert start in client_for(release_manager).get(page_urls()["plan"]).content.decode()
    assert start not in client_for(engineer).get(page_urls()["plan"]).content.decode()


def test_overview_tells_an_engineer_to_tick(sample_plan, release_manager, engineer):
    sample_plan.batches.get(number=1).start(by=release_manager)
    html = client_for(engineer).get(page_urls()["plan"]).content.decode()
    assert "Tick what you have verified: “Options expiration dropdown populates" in html


def test_overview_poll_with_release_manager_buttons_is_204_when_unchanged(sample_plan, release_manager):
    client = client_for(release_manager)
    url = page_urls()["plan"]
    body = client.get(url, **HTMX).content.decode()
    assert "csrfmiddlewaretoken" in body  # the Start button's form
    version = body.split('"v": "')[1].split('"')[0]
    assert client.get(url, {"v": version}, **HTMX).status_code == 204


def test_overview_query_count_is_constant(small_plan, big_plan, release_manager, django_assert_max_num_queries):
    client = client_for(release_manager)
    small = query_count(client, reverse("pages:plan", kwargs={"slug": small_plan.slug}))
    big_url = reverse("pages:plan", kwargs={"slug": big_plan.slug})
    with django_assert_max_num_queries(small):
        response = client.get(big_url)
    assert response.content.decode().count('class="card batch-card"') == 50
    # Uncached: session, user, roles, the live version, the plan, then the summaries' queries.
    assert small == query_count(client, big_url) <= 11


IMPORT = "/import/"
SIGNED_PLAN = re.compile(r'name="signed_plan" value="([^"]+)"')


def plan_file(content: bytes, name: str = "batch-plan-2025-10.md"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="text/markdown")


def preview(client, content: bytes, name: str = "batch-plan-2025-10.md", **extra):
    return client.post(IMPORT, {"file": plan_file(content, name)}, **extra)


def signed_plan(response) -> str:
    """The previewed plan as the preview's Confirm form carries it."""
    match = SIGNED_PLAN.search(response.content.decode())
    assert match, "the preview has no Confirm form"
    return match.group(1)


def text_of(response) -> str:
    return " ".join(
        response.content.decode().replace("&#x27;", "'").replace("&amp;", "&").replace("&quot;", '"').split()
    )


def test_home_shows_the_import_form_to_release_managers_only(db, release_manager, engineer):
    assert reverse("pages:plan-import") == IMPORT
    html = client_for(release_manager).get("/").content.decode()
    assert f'action="{IMPORT}" enctype="multipart/form-data"' in html
    assert "Import plan" not in client_for(engineer).get("/").content.decode()


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_get_import_shows_the_import_form(db, release_manager, htmx):
    """Issue 8 regression: GET /import/ answered 405."""
    response = client_for(release_manager).get(IMPORT, **(HTMX if htmx else {}))
    assert response.status_code == 200
    html = response.content.decode()
    assert ("<html" in html) is not htmx
    assert html.lstrip().startswith('<section id="import"') is htmx
    assert 'name="file"' in html
    assert "Preview import" in html
    assert "HX-Request" in response["Vary"]


def test_reloading_import_after_a_failed_import_without_javascript_shows_the_page(db, release_manager):
    """Issue 8 regression: after a refused file (no JavaScript) the address bar shows /import/; reloading gave 405."""
    client = client_for(release_manager)
    refused = preview(client, b"# A plan\n\nNo batches here.\n", "broken.md")
    assert refused.status_code == 422
    assert refused.request["PATH_INFO"] == IMPORT
    reloaded = client.get(IMPORT)
    assert reloaded.status_code == 200
    assert 'name="file"' in reloaded.content.decode()
    assert "broken.md was not imported" not in reloaded.content.decode()


SAMPLE_PREVIEW = [
    "Import preview: Strategic Batch Delivery Plan (October 2025 Refresh)",
    "A new plan, <code>batch-plan-2025-10</code>. From <code>batch-plan-2025-10.md</code>.",
    "4 batches, 10 planned PRs, 13 gates; at most 3 PRs per batch.",
    "Nothing has been written yet",
    "Batch 1 – Backend Reliability & Options Routing",
    "Target 2 PRs · AI review covers PRs #1 and #2",
    '<strong>PR #1</strong> <span class="row__text">Instrument FastAPI routing table and trace middleware (PR #1).',
    '<span class="gate__kind">CI</span> <span class="row__text">pytest backend/tests/test_options_endpoint.py',
    '<span class="gate__kind">Manual</span> <span class="row__text">Options expiration dropdown populates',
    '<span class="gate__kind">AI review</span> <span class="row__text">Require "blocking" Claude check on both PRs',
    "Batch 2 – Deployment & Observability Hardening",
    "Target 3 PRs · AI review covers PRs #3 and #5",
    '<span class="gate__kind">Docs</span> <span class="row__text">Documentation updates merged: DEPLOYMENT_STATUS.md',
    "<strong>PR #4</strong>",
    "Target 3 PRs · AI review covers PRs #7 and #8",
    "Target 2 PRs · AI review covers PRs #9 and #10",
    "Confirm import",
]


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_preview_shows_batches_prs_gates_and_ai_scope_and_writes_nothing(
    db, release_manager, htmx, django_assert_max_num_queries
):
    client = client_for(release_manager)
    # Session, user and roles (3), the existing plan's title (1), the import (26 with its savepoints), reading
    # back what it wrote (4) and the rolled-back transaction around it (2); constant in the plan's size (below).
    with django_assert_max_num_queries(36):
        response = preview(client, SAMPLE_PLAN.read_bytes(), **(HTMX if htmx else {}))
    assert response.status_code == 200
    html = text_of(response)
    for expected in SAMPLE_PREVIEW:
        assert expected in html
    assert html.count('class="row preview-gate"') == 13
    assert ("<html" in html) is not htmx
    assert [model.objects.count() for model in (Plan, Batch, PlannedPR, Gate, ChecklistItem)] == [0, 0, 0, 0, 0]


def test_preview_query_count_does_not_grow_with_the_plan(db, release_manager):
    client = client_for(release_manager)
    source = SAMPLE_PLAN.read_bytes()
    one_batch = source[: source.index(b"## Batch 2")] + source[source.index(b"## Batch Governance") :]
    preview(client, one_batch)  # a session's first request also loads its user into the cache
    with CaptureQueriesContext(connection) as small:
        assert preview(client, one_batch).status_code == 200
    with CaptureQueriesContext(connection) as full:
        assert preview(client, source).status_code == 200
    assert len(full) == len(small), "\n".join(
        q["sql"][:150] for q in full.captured_queries if q["sql"] not in {x["sql"] for x in small.captured_queries}
    )


@pytest.mark.parametrize("level", [1, 3, 4])
def test_the_preview_reads_batch_headings_at_any_level(db, release_manager, level):
    """Issue 8: `### Batch 1 - Title (Target: 2 PRs)` was refused with "the plan has no batches"."""
    source = SAMPLE_PLAN.read_bytes().replace(b"\n## Batch ", b"\n" + b"#" * level + b" Batch ")
    response = preview(client_for(release_manager), source)
    assert response.status_code == 200
    assert text_of(response).count('<li class="card" id="preview-batch-') == 4


def test_preview_of_a_reimport_says_so_and_changes_nothing(sample_plan, sample_plan_source, release_manager):
    plan_configure(plan=sample_plan, by=release_manager, values={"render_service_ids": ["srv-abc"]})
    before = snapshot()
    cut, end = sample_plan_source.index(b"## Batch 4"), sample_plan_source.index(b"## Batch Governance")
    response = preview(client_for(release_manager), sample_plan_source[:cut] + sample_plan_source[end:])
    assert response.status_code == 200
    html = text_of(response)
    assert (
        "A re-import of “Strategic Batch Delivery Plan (October 2025 Refresh)” (<code>batch-plan-2025-10</code>)"
        in html
    )
    assert "3 batches, 8 planned PRs, 13 gates" in html  # 10 named by the plan, 3 deploy gates from its settings
    assert html.count("(plan settings: every batch)") == 3
    assert "This re-import removes" in html
    assert snapshot() == before


def test_preview_shows_a_refusal_only_the_database_can_tell(sample_plan, sample_plan_source, release_manager, engineer):
    """The preview runs the import as a dry run, so a re-import that would drop sign-offs is refused there."""
    signoff_record(item=ChecklistItem.objects.get(gate__batch__number=4), user=engineer, action="tick")
    before = snapshot()
    cut, end = sample_plan_source.index(b"## Batch 4"), sample_plan_source.index(b"## Batch Governance")
    response = preview(client_for(release_manager), sample_plan_source[:cut] + sample_plan_source[end:], **HTMX)
    assert response.status_code == 422
    assert "Batch 4 is missing from the new plan but has sign-offs" in text_of(response)
    assert "Confirm import" not in text_of(response)
    assert snapshot() == before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_bad_file_at_preview_shows_the_line_and_writes_nothing(db, release_manager, htmx):
    broken = b"# A plan\n\n## Batch 1 - No target here\n- **Goals**\n  - x\n"
    response = preview(client_for(release_manager), broken, "broken.md", **(HTMX if htmx else {}))
    assert response.status_code == 422
    html = text_of(response)
    assert "broken.md was not imported: Line 3: Batch 1 has no Readiness Gates" in html
    assert ("<html" in html) is not htmx
    assert 'name="file"' in html  # the form, to try again
    assert not Plan.objects.exists()


def test_import_without_a_file_says_so(db, release_manager):
    response = client_for(release_manager).post(IMPORT)
    assert response.status_code == 422
    assert "Choose the plan’s markdown file to import." in response.content.decode()


def test_confirm_imports_exactly_what_was_previewed(db, release_manager, django_assert_max_num_queries):
    client = client_for(release_manager)
    source = "\ufeff".encode() + SAMPLE_PLAN.read_bytes()  # a BOM: the stored hash is of the bytes as uploaded
    payload = signed_plan(preview(client, source))
    assert not Plan.objects.exists()
    with django_assert_max_num_queries(29):  # session, user and roles, the import, the success message
        response = client.post(IMPORT, {"signed_plan": payload})
    plan = Plan.objects.get(slug=SLUG)
    assert response.status_code == 302
    assert response["Location"] == plan.get_absolute_url()
    assert plan.source_sha256 == hashlib.sha256(source).hexdigest()
    assert plan.source_name == "batch-plan-2025-10.md"
    assert plan.batches.count() == 4
    page = client.get(response["Location"])
    assert "Imported “Strategic Batch Delivery Plan (October 2025 Refresh)”: 4 batches, 10 PRs, 13 gates." in text_of(
        page
    )


def test_htmx_preview_then_confirm_redirects_the_browser(db, release_manager):
    client = client_for(release_manager)
    shown = preview(client, SAMPLE_PLAN.read_bytes(), **HTMX)
    assert shown.content.decode().lstrip().startswith('<section id="import"')
    assert f'hx-post="{IMPORT}" hx-target="#import"' in shown.content.decode()
    response = client.post(IMPORT, {"signed_plan": signed_plan(shown)}, **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("pages:plan", kwargs={"slug": SLUG})
    assert Plan.objects.get(slug=SLUG).batches.count() == 4


def test_cancel_goes_back_to_the_form(db, release_manager):
    shown = preview(client_for(release_manager), SAMPLE_PLAN.read_bytes()).content.decode()
    assert f'href="{reverse("pages:home")}#import"' in shown
    assert f'hx-get="{IMPORT}"' in shown
    back = client_for(release_manager).get(IMPORT, **HTMX)
    assert 'name="file"' in back.content.decode()
    assert not Plan.objects.exists()


def _tamper(payload: str) -> str:
    data, rest = payload.split(":", 1)
    return data[:-2] + ("A" if data[-2] != "A" else "B") + data[-1] + ":" + rest


@pytest.mark.parametrize("how", ["altered", "another user's", "not signed"])
def test_a_tampered_confirmation_is_refused_and_writes_nothing(db, release_manager, how):
    client = client_for(release_manager)
    if how == "another user's":
        other = UserFactory(username="ralph", role="release_manager")
        payload = signed_plan(preview(client_for(other), SAMPLE_PLAN.read_bytes()))
    else:
        payload = signed_plan(preview(client, SAMPLE_PLAN.read_bytes()))
        payload = _tamper(payload) if how == "altered" else "# Evil plan\n\n## Batch 1 – x (Target: 1 PRs)\n"
    for extra in ({}, HTMX):
        response = client.post(IMPORT, {"signed_plan": payload}, **extra)
        assert response.status_code == 422
        assert "the form no longer carries the plan that was previewed. Upload the file again." in text_of(response)
    assert not Plan.objects.exists()


def test_an_old_preview_cannot_be_confirmed(db, release_manager, monkeypatch):
    client = client_for(release_manager)
    payload = signed_plan(preview(client, SAMPLE_PLAN.read_bytes()))
    later = time.time() + 60 * 60 + 5
    monkeypatch.setattr(signing.time, "time", lambda: later)
    response = client.post(IMPORT, {"signed_plan": payload})
    assert response.status_code == 422
    assert "This preview is more than an hour old" in text_of(response)
    assert not Plan.objects.exists()


def test_confirm_checks_again_and_refuses_what_changed_since_the_preview(
    sample_plan, sample_plan_source, release_manager, engineer
):
    client = client_for(release_manager)
    cut, end = sample_plan_source.index(b"## Batch 4"), sample_plan_source.index(b"## Batch Governance")
    payload = signed_plan(preview(client, sample_plan_source[:cut] + sample_plan_source[end:]))
    # Between the preview and the confirmation, someone signs off an item of the batch the file drops.
    signoff_record(item=ChecklistItem.objects.get(gate__batch__number=4), user=engineer, action="tick")
    before = snapshot()
    response = client.post(IMPORT, {"signed_plan": payload}, **HTMX)
    assert response.status_code == 422
    assert "batch-plan-2025-10.md was not imported: Batch 4 is missing from the new plan" in text_of(response)
    assert snapshot() == before


@pytest.mark.parametrize("persona", ["engineer", "ops", "stakeholder", "outsider"])
def test_only_release_managers_import(request, db, release_manager, persona):
    payload = signed_plan(preview(client_for(release_manager), SAMPLE_PLAN.read_bytes()))
    client = client_for(request.getfixturevalue(persona))
    for response in (
        client.get(IMPORT),
        client.get(IMPORT, **HTMX),
        preview(client, SAMPLE_PLAN.read_bytes()),
        client.post(IMPORT, {"signed_plan": payload}),
    ):
        assert response.status_code == 403
        assert "Only release managers can import plans." in response.content.decode()
    assert not Plan.objects.exists()


def test_import_needs_login_a_known_method_and_csrf(db, release_manager):
    payload = signed_plan(preview(client_for(release_manager), SAMPLE_PLAN.read_bytes()))
    anonymous = client_for()
    assert anonymous.get(IMPORT)["Location"] == f"{reverse('login')}?next={IMPORT}"
    assert anonymous.post(IMPORT, {"file": plan_file(SAMPLE_PLAN.read_bytes())})["Location"].startswith(
        reverse("login")
    )
    assert anonymous.post(IMPORT, {"signed_plan": payload})["Location"].startswith(reverse("login"))
    for method in ("put", "patch", "delete"):
        assert getattr(client_for(release_manager), method)(IMPORT).status_code == 405
    strict = client_for(release_manager, csrf=True)
    assert preview(strict, SAMPLE_PLAN.read_bytes()).status_code == 403
    assert strict.post(IMPORT, {"signed_plan": payload}).status_code == 403
    assert not Plan.objects.exists()


# -- small units ------------------------------------------------------------------------------


def test_staff_see_a_link_to_the_admin(sample_plan, release_manager, engineer):
    release_manager.is_staff = True
    release_manager.save()
    assert 'href="/admin/">Admin</a>' in page_text(client_for(release_manager).get(page_urls()["home"]))
    assert "/admin/" not in page_text(client_for(engineer).get(page_urls()["home"]))


# -- the plan settings page -------------------------------------------------------


def settings_url(plan):
    return reverse("pages:plan-settings", kwargs={"slug": plan.slug})


def login(client, user):
    client.login(username=user.username, password=PASSWORD)
    return client


def form(plan, **changes):
    data = {
        "github_repository": "acme/shop",
        "ai_reviewer_check_name": "claude-review",
        "ai_reviewer_bot_login": "claude[bot]",
        "ai_review_timeout_minutes": "60",
        "render_service_ids": "srv-abc123",
        "sentry_organization": "acme",
        "sentry_project": "api",
        "sentry_environment": "production",
        "deploy_gate_every_batch": "auto",
        "observability_gate_every_batch": "off",
    }
    data.update(changes)
    return data


def test_release_manager_saves_settings_and_check_names(client, sample_plan, release_manager):
    ci = Gate.objects.get(batch__plan=sample_plan, batch__number=1, kind=GateKind.CI)
    page = login(client, release_manager).get(settings_url(sample_plan))
    assert page.status_code == 200
    assert f'name="check-{ci.pk}"' in page.content.decode()
    response = client.post(settings_url(sample_plan), form(sample_plan, **{f"check-{ci.pk}": "backend-tests"}))
    assert response.status_code == 302
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages[0].startswith("Saved the plan settings. 1 CI check name changed. Batch 1: added “Render deploy")
    sample_plan.refresh_from_db()
    ci.refresh_from_db()
    assert (sample_plan.github_repository, sample_plan.render_service_ids) == ("acme/shop", ["srv-abc123"])
    assert sample_plan.observability_gate_every_batch is False
    assert sample_plan.deploy_gate_every_batch is None
    assert ci.check_name == "backend-tests"
    assert not Gate.objects.filter(batch__plan=sample_plan, kind=GateKind.OBSERVABILITY).exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"github_repository": "not a repo"}, "Write the repository as owner/name"),
        ({"render_service_ids": "srv-1, bad id!"}, "is not a Render service id"),
        ({"sentry_project": ""}, "Set both the Sentry organisation and the project"),
        ({"ai_review_timeout_minutes": "0"}, "greater than or equal to 1"),
        ({"critical_paths": "backend/app/routers/**\nbackend routing"}, "“backend routing” is not a path glob"),
    ],
)
def test_bad_input_is_explained_and_nothing_is_saved(client, sample_plan, release_manager, changes, message):
    response = login(client, release_manager).post(settings_url(sample_plan), form(sample_plan, **changes))
    assert response.status_code == 422
    assert message in response.content.decode()
    sample_plan.refresh_from_db()
    assert sample_plan.github_repository == ""
    assert not Gate.objects.filter(batch__plan=sample_plan, kind=GateKind.DEPLOY).exists()


def test_release_manager_edits_the_critical_paths(client, sample_plan, release_manager):
    page = login(client, release_manager).get(settings_url(sample_plan))
    assert 'name="critical_paths"' in page.content.decode()
    response = client.post(
        settings_url(sample_plan), form(sample_plan, critical_paths="backend/app/routers/**\r\n render.yaml \r\n\r\n")
    )
    assert response.status_code == 302
    sample_plan.refresh_from_db()
    assert sample_plan.critical_paths == ["backend/app/routers/**", "render.yaml"]
    assert "backend/app/routers/**\nrender.yaml</textarea>" in client.get(settings_url(sample_plan)).content.decode()


def test_a_github_url_is_accepted_as_the_repository(client, sample_plan, release_manager):
    login(client, release_manager).post(
        settings_url(sample_plan), form(sample_plan, github_repository="https://github.com/acme/shop")
    )
    sample_plan.refresh_from_db()
    assert sample_plan.github_repository == "acme/shop"


@pytest.mark.parametrize("persona", ["engineer", "ops", "stakeholder", "outsider"])
def test_only_release_managers_see_or_change_settings(client, sample_plan, request, persona):
    login(client, request.getfixturevalue(persona))
    assert client.get(settings_url(sample_plan)).status_code == 403
    assert client.post(settings_url(sample_plan), form(sample_plan)).status_code == 403
    sample_plan.refresh_from_db()
    assert sample_plan.github_repository == ""


def test_anonymous_is_sent_to_login_and_other_methods_are_refused(client, sample_plan, release_manager):
    response = client.get(settings_url(sample_plan))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert login(client, release_manager).put(settings_url(sample_plan)).status_code == 405


def test_csrf_is_enforced(sample_plan, release_manager):
    from django.test import Client

    client = login(Client(enforce_csrf_checks=True), release_manager)
    assert client.post(settings_url(sample_plan), form(sample_plan)).status_code == 403


def test_the_plan_page_links_settings_for_release_managers_only(client, sample_plan, release_manager, stakeholder):
    assert (
        settings_url(sample_plan) in login(client, release_manager).get(sample_plan.get_absolute_url()).content.decode()
    )
    client.logout()
    assert (
        settings_url(sample_plan) not in login(client, stakeholder).get(sample_plan.get_absolute_url()).content.decode()
    )


# -- the home page: where each plan stands -------------------------------------------------


def _home(user) -> str:
    return page_text(client_for(user).get(page_urls()["home"]))


def test_home_says_the_first_batch_is_ready_to_start(sample_plan, stakeholder):
    text = _home(stakeholder)
    assert "Batch 1 ready to start" in text
    assert f'href="{reverse("pages:roadmap", kwargs={"slug": SLUG})}">Roadmap</a>' in text


def test_home_says_what_blocks_the_current_batch_in_the_rules_own_words(journey, stakeholder):
    batch1 = journey.batch(1)
    batch1.start(by=journey.release_manager)
    journey.open_prs(batch1)
    journey.report(batch1, ci="failure", ai="success")
    journey.sync(batch1)
    text = _home(stakeholder)
    assert "Batch 1 in progress, blocked" in text
    # The same sentence the readiness rule gives (Gate.blocking_sentence through Batch.ready_blockers).
    assert "CI gate “pytest backend/tests/test_options_endpoint.py” is failing." in text
    assert batch1.ready_blockers()[0] in text


def test_home_says_when_the_current_batch_is_in_review(journey, stakeholder):
    batch1 = journey.batch(1)
    batch1.start(by=journey.release_manager)
    journey.pass_everything(batch1)
    assert "Batch 1 ready: every gate passing or waived" in _home(stakeholder)
    batch1.mark_ready(by=journey.release_manager)
    assert "Batch 1 in review" in _home(stakeholder)
    batch1.approve(by=journey.release_manager)
    # Batch 2 is next, and the cadence lets it start now that batch 1 is approved.
    assert "Batch 2 ready to start" in _home(stakeholder)


def test_home_query_count_does_not_grow_with_plans_and_batches(
    small_plan, release_manager, django_assert_max_num_queries, request
):
    client = client_for(release_manager)
    one_plan = query_count(client, page_urls()["home"])
    request.getfixturevalue("big_plan")
    request.getfixturevalue("sample_plan")
    with django_assert_max_num_queries(one_plan):
        text = page_text(client.get(page_urls()["home"]))
    assert "Batch 25 in progress, blocked" in text  # the big plan's current batch
    assert "Batch 1 ready to start" in text  # the sample plan's


# -- the roadmap -------------------------------------------------------------------------


def roadmap_url(slug: str = SLUG) -> str:
    return reverse("pages:roadmap", kwargs={"slug": slug})


def _rows(html: str) -> dict[int, str]:
    """Each batch's table row, as text."""
    rows = {}
    for number in re.findall(r'<tr id="batch-(\d+)"', html):
        start = html.index(f'<tr id="batch-{number}"')
        rows[int(number)] = " ".join(re.sub(r"<[^>]+>", " ", html[start : html.index("</tr>", start)]).split())
    return rows


def test_the_plan_page_links_its_roadmap(sample_plan, stakeholder):
    assert f'href="{roadmap_url()}"' in client_for(stakeholder).get(page_urls()["plan"]).content.decode()


def test_roadmap_shows_planned_order_actual_dates_principles_checkpoint_and_next_steps(journey, stakeholder):
    batch1 = journey.approve(journey.batch(1))
    batch2 = journey.batch(2)
    batch2.start(by=journey.release_manager)
    batch2.refresh_from_db()
    response = client_for(stakeholder).get(roadmap_url())
    assert response.status_code == 200
    html = response.content.decode()
    rows = _rows(html)
    assert list(rows) == [1, 2, 3, 4]  # the planned order
    assert rows[1].startswith("1 Batch 1 – Backend Reliability &amp; Options Routing Approved no target date")
    day = f"{batch1.started_at:%-d %b %Y}"
    assert rows[1].endswith(f"{day} {batch1.ready_at:%-d %b %Y} {batch1.approved_at:%-d %b %Y} #1")
    assert rows[2].endswith(f"{batch2.started_at:%-d %b %Y} — — #2")
    assert rows[3].endswith("no target date not started — — —")
    assert "So far the batches started in the planned order." in html
    text = page_text(response)
    assert "<strong>AI-Assisted Review</strong> – Require Claude GitHub Actions" in text
    assert "No critical paths are set yet" in text
    assert "Hold end-of-batch review using PRODUCTION_DEPLOYMENT_GUIDE.md checklist" in text
    assert "<li>Socialize this batch plan with engineering + ops leads.</li>" in text
    assert "cycle time, escaped defects, Claude reviewer findings" in text


def test_roadmap_flags_a_batch_started_out_of_the_planned_order(sample_plan, release_manager):
    batch2 = sample_plan.batches.get(number=2)
    batch2.start(by=release_manager, override_reason="Ops needs the Sentry fix before the options work")
    html = client_for(release_manager).get(roadmap_url()).content.decode()
    rows = _rows(html)
    assert "#1 (planned #2)" in rows[2]
    assert "override: “Ops needs the Sentry fix before the options work”" in rows[2]
    assert "Out of the planned order:" in html
    assert "Batch 2 started #1 (with an override)." in page_text_of(html)


def page_text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_roadmap_shows_the_plans_milestones_and_how_late_a_batch_is(db, sample_plan_source, release_manager):
    from batches.plan_import import plan_import

    heading = "## Batch 1 – Backend Reliability & Options Routing (Target: 2 PRs)\n".encode()
    source = sample_plan_source.replace(heading, heading + "- **Target date** – 2020-01-10\n".encode())
    plan = plan_import(source=source, slug=SLUG).plan
    plan.batches.get(number=1).start(by=release_manager)
    response = client_for(release_manager).get(roadmap_url())
    rows = _rows(response.content.decode())
    late = (timezone.localdate() - datetime.date(2020, 1, 10)).days
    assert f"10 Jan 2020 {late} days late so far" in rows[1]
    assert "no target date" in rows[2]
    assert "The plan gives no milestone dates" not in response.content.decode()


def test_roadmap_shows_the_critical_paths_to_release_managers_with_a_settings_link(sample_plan, release_manager):
    plan_configure(plan=sample_plan, by=release_manager, values={"critical_paths": ["backend/app/routers/**"]})
    html = client_for(release_manager).get(roadmap_url()).content.decode()
    assert "Critical paths: <code>backend/app/routers/**</code>" in html
    assert f'href="{reverse("pages:plan-settings", kwargs={"slug": SLUG})}">Edit them' in html


def test_roadmap_works_without_javascript_and_has_no_inline_script_or_style(journey, stakeholder):
    journey.approve(journey.batch(1))
    html = client_for(stakeholder).get(roadmap_url()).content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)  # a CSP without 'unsafe-inline' is coming
    main = html[html.index("<main") : html.index("</main>")]
    assert "style=" not in main
    assert "hx-" not in main  # a plain page: nothing to swap
    assert '<table class="roadmap">' in main
    assert "<caption" in main


def test_roadmap_access(sample_plan, client, outsider, stakeholder):
    response = client.get(roadmap_url())
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert client_for(outsider).get(roadmap_url()).status_code == 403
    assert client_for(stakeholder).post(roadmap_url()).status_code == 405
    assert client_for(stakeholder).get(roadmap_url("no-such-plan")).status_code == 404


def test_roadmap_query_count_is_constant(small_plan, big_plan, stakeholder, django_assert_max_num_queries):
    client = client_for(stakeholder)
    small = query_count(client, roadmap_url(small_plan.slug))
    with django_assert_max_num_queries(small):
        response = client.get(roadmap_url(big_plan.slug))
    assert len(_rows(response.content.decode())) == 50
    # Cold: session, user, roles, the version, then the roadmap's own few.
    assert small == query_count(client, roadmap_url(big_plan.slug)) <= 7
