from __future__ import annotations

import hashlib
import re
import time

import pytest
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batches.models import Batch, BatchState, Gate, GateKind, GateState, Plan, PlannedPR
from batches.plan_settings import plan_configure
from signoffs.models import ChecklistItem
from signoffs.services import signoff_record
from tests.batches.test_import_plan import snapshot
from tests.conftest import SAMPLE_PLAN
from tests.factories import UserFactory

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


@pytest.mark.parametrize("page", ["home", "plan", "batch", "present"])
@pytest.mark.parametrize("persona", ["stakeholder", "engineer", "ops", "release_manager"])
def test_every_role_sees_every_page(request, sample_plan, page, persona):
    response = client_for(request.getfixturevalue(persona)).get(page_urls()[page])
    assert response.status_code == 200
    assert b"<html" in response.content
    assert sample_plan.title.encode() in response.content or page in ("batch", "present")


@pytest.mark.parametrize("page", ["home", "plan", "batch", "present"])
def test_user_without_a_role_gets_a_403_that_says_why(sample_plan, outsider, page):
    response = client_for(outsider).get(page_urls()[page])
    assert response.status_code == 403
    assert "Only " in response.content.decode()
    assert "can see plans." in response.content.decode()
    assert sample_plan.title not in response.content.decode()


@pytest.mark.parametrize("page", ["home", "plan", "batch", "present", "healthz"])
def test_anonymous_is_sent_to_login(sample_plan, page):
    url = page_urls()[page]
    response = client_for().get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("page", ["home", "plan", "batch", "present", "healthz"])
def test_pages_refuse_post(sample_plan, stakeholder, page):
    assert client_for(stakeholder).post(page_urls()[page]).status_code == 405


def test_unknown_plan_and_batch_are_404(sample_plan, stakeholder):
    client = client_for(stakeholder)
    assert client.get(reverse("pages:plan", kwargs={"slug": "nope"})).status_code == 404
    assert client.get(reverse("pages:batch", kwargs={"slug": SLUG, "number": 99})).status_code == 404


def test_healthz_answers_ok_for_signed_in_users(stakeholder):
    response = client_for(stakeholder).get(reverse("pages:healthz"))
    assert response.status_code == 200
    assert response.content == b"ok\n"


# -- page content --------------------------------------------------------------------


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


def test_review_page_shows_goals_tasks_prs_gates_checklist_and_placeholder(journey, stakeholder):
    from batches.pr_linking import planned_pr_link
    from tests.journey import REPO, head_sha

    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    pr = batch.prs.get(number=1)
    journey.fake.github_pr(REPO, 42, head_sha=head_sha(1))
    run = {"name": "ci", "status": "completed", "conclusion": "failure", "html_url": "https://ci.example/run/7"}
    journey.fake.github_checks(REPO, head_sha(1), [run])
    planned_pr_link(pr=pr, url=f"https://github.com/{REPO}/pull/42")
    journey.fake.github_pr(REPO, 43, head_sha=head_sha(2))
    journey.fake.github_checks(REPO, head_sha(2), [{"name": "ci", "status": "completed", "conclusion": "success"}])
    planned_pr_link(pr=batch.prs.get(number=2), url=f"https://github.com/{REPO}/pull/43")
    journey.sync(batch)
    html = client_for(stakeholder).get(page_urls()["batch"]).content.decode()
    assert batch.goals[0] in html
    assert batch.key_tasks[0]["text"] in html
    assert f'href="https://github.com/{REPO}/pull/42"' in html
    assert "PR #1: ci failure; PR #2: ci success" in html
    assert 'href="https://ci.example/run/7"' in html
    assert f"GitHub checks ({REPO})" in html
    assert "PRs #1, #2" in html  # the AI review gate names both PRs
    assert "Options expiration dropdown populates" in html
    assert "Stakeholder review" in html
    assert f'href="/plans/{journey.plan.slug}/batches/1/audit.md"' in html
    assert f'href="/plans/{journey.plan.slug}/batches/1/audit.csv"' in html
    # A stakeholder sees no controls.
    assert "Tick</button>" not in html
    assert "Upload screenshot" not in html
    assert "Start batch" not in html


def test_presenting_mode_shows_the_verdict(sample_plan, release_manager):
    batch = sample_plan.batches.get(number=1)
    batch.start(by=release_manager)
    html = client_for(release_manager).get(page_urls()["present"]).content.decode()
    assert 'class="presenting"' in html
    assert "Not ready" in html
    assert f"of {batch.gates.count()} gates outstanding" in html


# -- live polling -----------------------------------------------------------------------


@pytest.mark.parametrize("page", ["plan", "batch", "present"])
def test_htmx_poll_returns_only_status_regions_then_204_until_something_changes(sample_plan, stakeholder, page):
    client = client_for(stakeholder)
    url = page_urls()[page]
    full = client.get(url)
    assert "HX-Request" in full["Vary"]
    first = client.get(url, **HTMX)
    body = first.content.decode()
    assert first.status_code == 200
    assert "HX-Request" in first["Vary"]
    assert "<html" not in body
    assert 'hx-swap-oob="true"' in body
    # Nothing anyone is typing is ever replaced, and no per-render token makes it look changed.
    assert "<textarea" not in body
    assert "<input" not in body
    assert "csrfmiddlewaretoken" not in body
    version = body.split('"v": "')[1].split('"')[0]
    assert client.get(url, {"v": version}, **HTMX).status_code == 204
    signoff_record(
        item=ChecklistItem.objects.get(gate__batch__plan=sample_plan, gate__batch__number=1),
        user=UserFactory(username="tick", role="engineer"),
        action="tick",
    )
    changed = client.get(url, {"v": version}, **HTMX)
    assert changed.status_code == 200
    assert "1 passing" in changed.content.decode()


def test_overview_poll_with_release_manager_buttons_is_204_when_unchanged(sample_plan, release_manager):
    client = client_for(release_manager)
    url = page_urls()["plan"]
    body = client.get(url, **HTMX).content.decode()
    assert "csrfmiddlewaretoken" in body  # the Start button's form
    version = body.split('"v": "')[1].split('"')[0]
    assert client.get(url, {"v": version}, **HTMX).status_code == 204


def test_presenting_mode_stops_polling_once_approved(journey):
    journey.approve(journey.batch(1))
    assert client_for(journey.release_manager).get(page_urls()["present"], **HTMX).status_code == 286


# -- query counts do not grow with the plan ----------------------------------------------


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_overview_query_count_is_constant(small_plan, big_plan, release_manager, django_assert_max_num_queries):
    client = client_for(release_manager)
    small = _count(client, reverse("pages:plan", kwargs={"slug": small_plan.slug}))
    big_url = reverse("pages:plan", kwargs={"slug": big_plan.slug})
    with django_assert_max_num_queries(small):
        response = client.get(big_url)
    assert response.content.decode().count('class="card batch-card"') == 50
    assert small == _count(client, big_url) <= 10


@pytest.mark.parametrize("state", [BatchState.IN_PROGRESS, BatchState.PLANNED, BatchState.APPROVED])
def test_review_page_query_count_is_constant(small_plan, big_plan, engineer, django_assert_max_num_queries, state):
    client = client_for(engineer)
    small_batch = small_plan.batches.filter(state=state).last()
    big_batch = big_plan.batches.filter(state=state).last()
    small = _count(client, small_batch.get_absolute_url())
    with django_assert_max_num_queries(small):
        response = client.get(big_batch.get_absolute_url())
    html = response.content.decode()
    assert html.count('class="row gate ') == 8
    assert "Sign-off history" in html or state == BatchState.PLANNED
    assert small == _count(client, big_batch.get_absolute_url()) <= 14
    # The poll costs the same.
    assert _count(client, small_batch.get_absolute_url() + "?v=x") == small


# -- release managers move batches ---------------------------------------------------------


def test_release_manager_starts_a_batch(sample_plan, release_manager):
    response = client_for(release_manager).post(move_url("start"), follow=True)
    batch = sample_plan.batches.get(number=1)
    assert batch.state == BatchState.IN_PROGRESS
    assert batch.started_by == release_manager
    assert response.redirect_chain[-1][0] == batch.get_absolute_url()
    assert "Batch 1 started." in response.content.decode()


def test_start_from_the_overview_returns_to_the_overview(sample_plan, release_manager):
    overview = page_urls()["plan"]
    response = client_for(release_manager).post(move_url("start"), {"next": overview})
    assert response["Location"] == overview
    response = client_for(release_manager).post(move_url("start", 2), {"next": "https://evil.example/"})
    assert response["Location"] == sample_plan.batches.get(number=2).get_absolute_url()


def test_refused_start_shows_the_governance_reason_and_changes_nothing(sample_plan, release_manager):
    response = client_for(release_manager).post(move_url("start", 2), follow=True)
    assert "Batch 2 cannot start. Batch 1 has not started yet." in response.content.decode()
    assert sample_plan.batches.get(number=2).state == BatchState.PLANNED


def test_htmx_move_returns_the_lifecycle_partial(sample_plan, release_manager):
    client = client_for(release_manager)
    ok = client.post(move_url("start"), **HTMX)
    assert ok.status_code == 200
    assert ok.content.decode().lstrip().startswith('<section id="lifecycle"')
    assert "In progress" in ok.content.decode()
    refused = client.post(move_url("ready"), **HTMX)
    assert refused.status_code == 422
    assert "Batch 1 is not ready." in refused.content.decode()
    assert sample_plan.batches.get(number=1).state == BatchState.IN_PROGRESS


def test_mark_ready_and_approve(journey):
    sample_plan, release_manager = journey.plan, journey.release_manager
    client = client_for(release_manager)
    client.post(move_url("start"))
    journey.pass_everything(journey.batch(1))
    client.post(move_url("ready"))
    assert sample_plan.batches.get(number=1).state == BatchState.READY_FOR_REVIEW
    client.post(move_url("approve"))
    batch = sample_plan.batches.get(number=1)
    assert batch.state == BatchState.APPROVED
    assert batch.approved_by == release_manager


@pytest.mark.parametrize("move", ["start", "ready", "approve"])
@pytest.mark.parametrize("persona", ["engineer", "ops", "stakeholder", "outsider"])
def test_only_release_managers_move_batches(request, sample_plan, move, persona):
    response = client_for(request.getfixturevalue(persona)).post(move_url(move))
    assert response.status_code == 403
    assert "Only release managers can start, close or approve batches." in response.content.decode()
    assert sample_plan.batches.get(number=1).state == BatchState.PLANNED


@pytest.mark.parametrize("move", ["start", "ready", "approve"])
def test_moves_need_login_post_and_csrf(sample_plan, release_manager, move):
    url = move_url(move)
    assert client_for().post(url)["Location"].startswith(reverse("login"))
    assert client_for(release_manager).get(url).status_code == 405
    assert client_for(release_manager, csrf=True).post(url).status_code == 403
    assert sample_plan.batches.get(number=1).state == BatchState.PLANNED


# -- linking planned PRs -------------------------------------------------------------------


def test_release_manager_links_a_pr_by_url(sample_plan, release_manager):
    pr = PlannedPR.objects.get(batch__plan=sample_plan, number=1)
    pr.head_sha = "a" * 40
    pr.save()
    response = client_for(release_manager).post(link_url(), {"url": " https://github.com/acme/shop/pull/42/files "})
    assert response.status_code == 302
    pr.refresh_from_db()
    assert (pr.github_repository, pr.github_number) == ("acme/shop", 42)
    assert pr.github_url == "https://github.com/acme/shop/pull/42"
    assert pr.head_sha == ""  # belonged to the previous link


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "Paste the pull request"),
        ("github.com/acme/shop/pull/1", "is not a pull request URL"),
        ("https://github.com/acme/shop/issues/1", "is not a pull request URL"),
        ("https://github.com/acme/shop/pull/0", "is not a pull request URL"),
        ("http://github.com/acme/shop/pull/1", "is not a pull request URL"),
        ("https://evil.example/acme/shop/pull/1", "this Gatehouse reads pull requests from github.com"),
        ("https://github.com/other/repo/pull/1", "This plan's pull requests live in acme/shop"),
    ],
)
def test_bad_pr_urls_are_refused_with_a_reason(sample_plan, release_manager, url, message):
    Plan.objects.filter(pk=sample_plan.pk).update(github_repository="acme/shop")
    client = client_for(release_manager)
    page = client.post(link_url(), {"url": url}, follow=True).content.decode()
    assert message in page.replace("&#x27;", "'")
    partial = client.post(link_url(), {"url": url}, **HTMX)
    assert partial.status_code == 422
    assert message in partial.content.decode().replace("&#x27;", "'")
    assert 'id="pr-1"' in partial.content.decode()
    pr = PlannedPR.objects.get(batch__plan=sample_plan, number=1)
    assert (pr.github_repository, pr.github_number, pr.github_url) == ("", None, "")


def test_htmx_link_returns_the_pr_row(sample_plan, release_manager):
    response = client_for(release_manager).post(link_url(), {"url": "https://github.com/acme/shop/pull/7"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<li class="row pr" id="pr-1"')
    assert 'href="https://github.com/acme/shop/pull/7"' in html


def test_github_enterprise_host_comes_from_the_api_url(sample_plan, release_manager, settings):
    settings.GITHUB_API_URL = "https://ghe.acme.test/api/v3"
    client_for(release_manager).post(link_url(), {"url": "https://ghe.acme.test/acme/shop/pull/9"})
    assert PlannedPR.objects.get(batch__plan=sample_plan, number=1).github_number == 9


@pytest.mark.parametrize("persona", ["engineer", "ops", "stakeholder", "outsider"])
def test_only_release_managers_link_prs(request, sample_plan, persona):
    response = client_for(request.getfixturevalue(persona)).post(link_url(), {"url": "https://github.com/a/b/pull/1"})
    assert response.status_code == 403
    assert "Only release managers can link pull requests." in response.content.decode()
    assert PlannedPR.objects.get(batch__plan=sample_plan, number=1).github_number is None


def test_link_needs_login_post_and_csrf(sample_plan, release_manager):
    data = {"url": "https://github.com/a/b/pull/1"}
    assert client_for().post(link_url(), data)["Location"].startswith(reverse("login"))
    assert client_for(release_manager).get(link_url()).status_code == 405
    assert client_for(release_manager, csrf=True).post(link_url(), data).status_code == 403
    assert client_for(release_manager).post(link_url(pr_number=99), data).status_code == 404
    assert PlannedPR.objects.get(batch__plan=sample_plan, number=1).github_number is None


# -- importing a plan: preview, then confirm ---------------------------------------------------

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
    with CaptureQueriesContext(connection) as small:
        assert preview(client, one_batch).status_code == 200
    with CaptureQueriesContext(connection) as full:
        assert preview(client, source).status_code == 200
    assert len(full) == len(small)


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


def test_release_manager_can_waive_a_gate_that_cannot_report(journey, stakeholder):
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.open_prs(batch)
    journey.report(batch, ci="failure", ai="timed_out")
    journey.sync(batch)
    ai = batch.gates.get(kind=GateKind.AI_REVIEW)
    ci = batch.gates.get(kind=GateKind.CI)
    waive = reverse("pages:gate-waive", kwargs={"pk": ai.pk})
    assert waive not in client_for(stakeholder).get(page_urls()["batch"]).content.decode()
    rm = client_for(journey.release_manager)
    page = rm.get(page_urls()["batch"]).content.decode()
    assert f'action="{waive}"' in page
    # The failing CI gate is not offered: it is a finding to fix.
    assert reverse("pages:gate-waive", kwargs={"pk": ci.pk}) not in page
    reason = "Claude rate limited, see status page"
    response = rm.post(waive, {"reason": reason, "confirmed": "yes"}, follow=True)
    html = " ".join(response.content.decode().split())
    assert "<strong>Waived</strong> by rita on" in html
    assert f"UTC: “{reason}”" in html
    ai.refresh_from_db()
    assert ai.waiver_reason == reason


def test_unknown_batch_gets_the_friendly_404_page(sample_plan, stakeholder):
    response = client_for(stakeholder).get(f"/plans/{sample_plan.slug}/batches/99/")
    assert response.status_code == 404
    assert "There is no page at this address" in response.content.decode()


# -- pages say what will happen before the click ------------------------------------------


def _text(response) -> str:
    return " ".join(response.content.decode().split())


def test_a_blocked_start_is_shown_disabled_with_its_reason_and_an_override(journey):
    rm = client_for(journey.release_manager)
    html = _text(rm.get(reverse("pages:batch", kwargs={"slug": SLUG, "number": 2})))
    assert f'action="{move_url("start", 2)}"' in html
    assert (
        '<button type="submit" class="button" disabled aria-describedby="move-refusal">Start Batch 2</button>' in html
    )
    assert "Start Batch 2 is not available yet:<ul><li>Batch 1 has not started yet.</li></ul>" in html
    assert "Start Batch 2 anyway, with an override" in html
    assert "Next for you:</span> Wait for the previous batch, or start this one with a written override." in html


def test_mark_ready_is_disabled_until_every_gate_passes(journey):
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.sync(batch)
    rm = client_for(journey.release_manager)
    html = _text(rm.get(page_urls()["batch"]))
    assert 'disabled aria-describedby="move-refusal">Mark ready for review</button>' in html
    assert "CI gate “pytest backend/tests/test_options_endpoint.py” needs configuration." in html
    assert "Manual gate “Options expiration dropdown populates" in html
    assert "(0 of 1 item ticked)" in html
    journey.pass_everything(batch)
    html = _text(rm.get(page_urls()["batch"]))
    assert '<button type="submit" class="button">Mark ready for review</button>' in html
    assert "Next for you:</span> Mark it ready for review." in html


def test_approve_is_disabled_when_a_gate_turned_after_ready(journey):
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.pass_everything(batch)
    batch.mark_ready(by=journey.release_manager)
    journey.report(batch, ci="failure")
    journey.sync(batch)
    html = _text(client_for(journey.release_manager).get(page_urls()["batch"]))
    assert "Ready for review, but a gate turned" in html
    assert 'disabled aria-describedby="move-refusal">Approve Batch 1</button>' in html
    assert "is failing." in html


def test_ticks_are_disabled_with_the_reason(journey):
    batch2 = journey.approve(journey.batch(1)) and journey.batch(2)
    batch2.start(by=journey.release_manager)
    engineer = client_for(journey.engineer)
    html = _text(engineer.get(reverse("pages:batch", kwargs={"slug": SLUG, "number": 2})))
    assert "disabled>Tick</button>" in html
    assert "This item needs screenshot evidence: upload a file before ticking it." in html
    approved = _text(engineer.get(page_urls()["batch"]))
    assert "disabled>Untick</button>" in approved
    assert "Batch 1 is approved; its sign-offs are final." in approved
    ops = _text(client_for(journey.ops).get(page_urls()["batch"]))
    assert "Batch 1 is approved; its evidence is final." in ops
    assert "Upload screenshot" not in ops


def test_next_for_you_follows_the_checklist(journey):
    from signoffs.evidence import evidence_add
    from signoffs.models import ChecklistItem
    from signoffs.services import signoff_record
    from tests.journey import screenshot

    batch2 = journey.approve(journey.batch(1)) and journey.batch(2)
    batch2.start(by=journey.release_manager)
    url = reverse("pages:batch", kwargs={"slug": SLUG, "number": 2})
    item = ChecklistItem.objects.get(gate__batch=batch2)
    quoted = "“Ops to capture screenshots of Sentry + Render dashboards”"
    assert f"Next for you:</span> Waiting for ops to upload the screenshot for {quoted}; then tick it." in _text(
        client_for(journey.engineer).get(url)
    )
    assert f"Next for you:</span> Upload the screenshot for {quoted}." in _text(client_for(journey.ops).get(url))
    evidence_add(item=item, upload=screenshot(), by=journey.ops)
    assert f"Next for you:</span> Tick what you have verified: {quoted}." in _text(
        client_for(journey.engineer).get(url)
    )
    assert "Next for you" not in _text(client_for(journey.ops).get(url))
    signoff_record(item=item, user=journey.engineer, action="tick")
    assert "Next for you" not in _text(client_for(journey.engineer).get(url))


def test_blockers_and_the_verdict_read_well(journey, stakeholder):
    """Regressions: "… is needs configuration" and "1 of 3 gate outstanding"."""
    from batches.plan_settings import gate_check_names_configure

    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.open_prs(batch)
    journey.report(batch)
    ci = batch.gates.get(kind=GateKind.CI)
    gate_check_names_configure(plan=journey.plan, check_names={ci.pk: ""})
    journey.sync(batch)
    html = _text(client_for(stakeholder).get(page_urls()["batch"]))
    assert "is needs configuration" not in html
    assert "CI gate “pytest backend/tests/test_options_endpoint.py” needs configuration." in html
    assert "2 of 3 gates outstanding: 1 pending." not in html  # needs-configuration counts as pending
    assert "2 of 3 gates outstanding: 2 pending." in html
    journey.configure()  # the check name is set again
    journey.sync(batch)
    html = _text(client_for(stakeholder).get(page_urls()["batch"]))
    assert "1 of 3 gates outstanding: 1 pending." in html


def test_presenting_mode_lists_blockers_prs_and_waivers(journey):
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.open_prs(batch)
    journey.report(batch, ci="success", ai="timed_out")
    journey.sync(batch)
    ai = batch.gates.get(kind=GateKind.AI_REVIEW)
    ai.waive(by=journey.release_manager, reason="Claude rate limited; reviewed by hand")
    html = _text(client_for(journey.engineer).get(page_urls()["present"]))
    assert "<h2>What blocks it</h2>" in html
    assert "Manual gate “Options expiration dropdown populates" in html
    assert 'href="https://github.com/octo-org/gatehouse-demo/pull/101"' in html
    assert "Waived by rita: “Claude rate limited; reviewed by hand”" in html
    assert "present__gate present__gate--waived" in html
    assert "1 waived" in html


def test_a_long_checklist_history_can_be_expanded(sample_plan, engineer):
    from signoffs.models import ChecklistItem
    from signoffs.services import signoff_record

    item = ChecklistItem.objects.get(gate__batch__plan=sample_plan, gate__batch__number=1)
    for n in range(7):
        signoff_record(item=item, user=engineer, action="note", note=f"note number {n}")
    html = _text(client_for(engineer).get(page_urls()["batch"]))
    assert "Show all 7 events (2 earlier)" in html
    assert html.count("note number 0") == 1  # only in the expandable full history
    assert html.count("note number 6") == 2  # the last five, and the full history


def test_staff_see_a_link_to_the_admin(sample_plan, release_manager, engineer):
    release_manager.is_staff = True
    release_manager.save()
    assert 'href="/admin/">Admin</a>' in _text(client_for(release_manager).get(page_urls()["home"]))
    assert "/admin/" not in _text(client_for(engineer).get(page_urls()["home"]))


def test_an_override_is_confirmed_then_shown_on_both_batches(journey):
    journey.batch(1).start(by=journey.release_manager)
    rm = client_for(journey.release_manager)
    reason = "Sentry DSN fix must ship before the freeze"
    confirm = rm.post(move_url("start", 2), {"override_reason": reason})
    assert confirm.status_code == 200
    assert "Start Batch 2 with an override?" in _text(confirm)
    assert journey.batch(2).state == BatchState.PLANNED
    done = rm.post(move_url("start", 2), {"override_reason": reason, "confirmed": "yes"})
    assert done.status_code == 302
    assert journey.batch(2).state == BatchState.IN_PROGRESS
    second = _text(rm.get(reverse("pages:batch", kwargs={"slug": SLUG, "number": 2})))
    assert "Started with an override</strong> by rita on" in second
    assert reason in second
    first = _text(rm.get(page_urls()["batch"]))
    assert "Batch 2 was started before this batch passed</strong>, by rita's override" in first
    overview = _text(rm.get(page_urls()["plan"]))
    assert overview.count(reason) == 2


def test_the_poll_refreshes_the_lifecycle_button(journey):
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    rm = client_for(journey.release_manager)
    before = rm.get(page_urls()["batch"], HTMX)
    assert 'disabled aria-describedby="move-refusal">Mark ready' in before.content.decode()
    journey.pass_everything(batch)
    after = rm.get(page_urls()["batch"], HTMX)
    assert after.status_code == 200
    assert '<button type="submit" class="button">Mark ready for review</button>' in _text(after)


def test_starting_and_linking_read_the_providers_at_once(journey, django_capture_on_commit_callbacks):
    from tests.journey import REPO, github_number, head_sha

    rm = client_for(journey.release_manager)
    batch = journey.batch(1)
    for pr in batch.prs.all():
        journey.fake.github_pr(REPO, github_number(pr), head_sha=head_sha(pr.number))
    journey.fake.github_checks(REPO, head_sha(1), [{"name": "ci", "status": "completed", "conclusion": "failure"}])
    with django_capture_on_commit_callbacks(execute=True):
        assert rm.post(move_url("start")).status_code == 302
    ci = batch.gates.get(kind=GateKind.CI)
    assert ci.state == GateState.NEEDS_CONFIG  # checked at once: the PRs are not linked yet
    assert ci.detail.startswith("Link planned PR #1, #2")
    for pr in batch.prs.all():
        with django_capture_on_commit_callbacks(execute=True):
            url = f"https://github.com/{REPO}/pull/{github_number(pr)}"
            assert rm.post(link_url(pr.number), {"url": url}, **HTMX).status_code == 200
    assert 'class="badge badge--in_progress">Open</span>' in rm.get(page_urls()["batch"]).content.decode()
    ci.refresh_from_db()
    assert (ci.state, ci.detail.split(";")[0]) == (GateState.FAILING, "PR #1: ci failure")
