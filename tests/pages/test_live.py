"""The live version and the cheap poll: pages.live.

Every writer the live regions depend on is driven through the product's own action,
and the version must move; a poll that finds it unchanged renders nothing.
"""

from __future__ import annotations

import re
import time

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batches.models import BatchState, Gate, GateKind, GateState
from batches.plan_import import plan_import
from batches.pr_linking import planned_pr_link
from pages.live import CSRF_PLACEHOLDER, LIVE_SOURCES, OOB_ATTRIBUTE, POLL_SECONDS, read_version
from providers.fake.webhooks import check_run_completed, webhook_delivery
from reviews.checklist import checklist_import, checklist_item_edit
from reviews.models import Decision
from reviews.services import (
    FollowUpInput,
    checklist_items_for,
    review_attendee_add,
    review_confirm,
    review_decide,
    review_open,
)
from signoffs.evidence import evidence_add
from signoffs.models import ChecklistItem
from signoffs.services import signoff_record
from tests.factories import UserFactory
from tests.journey import CI_CHECK, REPO, github_number, head_sha, screenshot
from tests.pages.helpers import HTMX, SLUG, client_for, page_urls

_in_batch_scope = False


def version(number: int = 1) -> str:
    """The plan's version; under ``every_scope``, the second time round, that of batch ``number``'s pages."""
    return read_version(slug=SLUG, number=number if _in_batch_scope else None)[0]


@pytest.fixture(params=["plan", "batch"])
def scope(request):
    """Each writer must move both the plan's version (the overview) and its batch's (the batch page)."""
    global _in_batch_scope
    _in_batch_scope = request.param == "batch"
    yield request.param
    _in_batch_scope = False


every_scope = pytest.mark.usefixtures("scope")


def _started_with_prs(journey):
    """Batch 1 of the configured plan, started, its PRs linked to the fake GitHub's."""
    journey.configure()
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.open_prs(batch)
    return batch


def _waivable_gate(journey) -> Gate:
    """Batch 1 started with its PRs linked but GitHub's AI review not reported: a gate that may be waived."""
    batch = _started_with_prs(journey)
    journey.report(batch, ai=None)
    journey.sync(batch)
    gate = next(g for g in Gate.objects.filter(batch=batch).select_related("batch") if g.can_be_waived)
    return gate


# -- every writer moves the version ---------------------------------------------------


@every_scope
def test_a_sync_that_changes_a_gate_moves_the_version(journey):
    batch = _started_with_prs(journey)
    before = version()
    journey.report(batch, ci="failure")
    assert version() == before  # the provider changed, the portal does not know yet
    journey.sync(batch)
    assert version() != before
    assert Gate.objects.get(batch=batch, kind=GateKind.CI).state == GateState.FAILING


@every_scope
def test_a_sync_that_finds_nothing_new_leaves_the_version_alone(journey):
    """Polling GitHub every minute must not re-render every open page: only a change moves the version."""
    batch = _started_with_prs(journey)
    journey.report(batch, ci="success")
    journey.sync(batch)
    before = version()
    checked = {g.pk: g.last_checked_at for g in Gate.objects.filter(batch=batch)}
    journey.sync(batch)
    assert version() == before
    # The gates were evaluated again all the same; the scheduler reads when.
    assert any(g.last_checked_at != checked[g.pk] for g in Gate.objects.filter(batch=batch))


@every_scope
def test_a_signed_webhook_moves_the_version(journey, client, django_capture_on_commit_callbacks):
    batch = _started_with_prs(journey)
    journey.sync(batch)
    pr = batch.prs.order_by("number").first()
    before = version()
    journey.fake.github_checks(
        REPO, head_sha(pr.number), [{"name": CI_CHECK, "status": "completed", "conclusion": "failure"}]
    )
    payload = check_run_completed(
        REPO,
        name=CI_CHECK,
        conclusion="failure",
        head_sha=head_sha(pr.number),
        numbers=[github_number(pr)],
        completed_at="2026-01-02T10:00:00Z",
    )
    delivery = webhook_delivery(secret="It's a Secret to Everybody", event="check_run", payload=payload)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/webhooks/github/", delivery.body, content_type="application/json", headers=delivery.headers
        )
    assert response.status_code in (200, 202)
    assert version() != before


@every_scope
def test_a_tick_an_untick_and_a_note_each_move_the_version(sample_plan, engineer):
    item = ChecklistItem.objects.filter(gate__batch__plan=sample_plan, evidence_required=False).first()
    number = item.gate.batch.number
    seen = {version(number)}
    for action in ("tick", "untick", "note"):
        signoff_record(item=item, user=engineer, action=action, note="checked")
        seen.add(version(number))
    assert len(seen) == 4


@every_scope
def test_an_upload_and_then_its_thumbnail_each_move_the_version(sample_plan, ops, django_capture_on_commit_callbacks):
    item = ChecklistItem.objects.filter(gate__batch__plan=sample_plan, evidence_required=True).first()
    number = item.gate.batch.number
    before = version(number)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        evidence = evidence_add(item=item, upload=screenshot(), by=ops)
    uploaded = version(number)
    assert uploaded != before
    for callback in callbacks:  # the thumbnail task, run in-process
        callback()
    evidence.refresh_from_db()
    assert evidence.thumbnail
    assert version(number) != uploaded


@every_scope
def test_a_waiver_and_its_revocation_move_the_version(journey):
    gate = _waivable_gate(journey)
    before = version()
    gate.waive(by=journey.release_manager, reason="The AI reviewer is rate limited today.")
    waived = version()
    assert waived != before
    gate.revoke_waiver(by=journey.release_manager, reason="It answers again.")
    assert version() not in (before, waived)


@every_scope
def test_lifecycle_moves_and_an_override_move_the_version(journey):
    seen = {version()}
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    seen.add(version())
    # Batch 2 may not start yet: only an override starts it, and that is recorded.
    journey.batch(2).start(by=journey.release_manager, override_reason="The demo is on Friday.")
    seen.add(version())
    journey.pass_everything(batch)
    seen.add(version())
    batch.mark_ready(by=journey.release_manager)
    seen.add(version())
    batch.approve(by=journey.release_manager)
    seen.add(version())
    assert len(seen) == 6


@every_scope
def test_each_step_of_a_review_and_a_checklist_edit_move_the_version(journey):
    checklist_import(
        plan=journey.plan,
        source=b"# Before the deploy\n- [ ] Backups verified\n",
        source_name="PRODUCTION_DEPLOYMENT_GUIDE.md",
        by=journey.release_manager,
    )
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.pass_everything(batch)
    batch.mark_ready(by=journey.release_manager)
    seen = {version()}
    session = review_open(batch=batch, by=journey.release_manager)
    seen.add(version())
    guest = review_attendee_add(session=session, by=journey.release_manager, name="Dana from Support")
    seen.add(version())
    (item,) = checklist_items_for(batch)
    review_confirm(
        session=session, item=item, attendee=guest, note="Restored last night's backup", by=journey.release_manager
    )
    seen.add(version())
    checklist_item_edit(item=item, text="Backups verified and restored", by=journey.release_manager)
    seen.add(version())
    review_decide(
        session=session,
        decision=Decision.APPROVED_WITH_FOLLOW_UPS,
        by=journey.release_manager,
        follow_ups=[FollowUpInput(text="Automate the restore drill", owner="Dana")],
    )
    seen.add(version())
    assert len(seen) == 6
    assert journey.batch(1).state == BatchState.APPROVED


@every_scope
def test_linking_a_pr_and_saving_the_plan_settings_move_the_version(journey):
    before = version()
    journey.configure()
    configured = version()
    assert configured != before
    pr = journey.batch(1).prs.order_by("number").first()
    planned_pr_link(pr=pr, url=f"https://github.com/{REPO}/pull/700")
    linked = version()
    assert linked != configured
    planned_pr_link(pr=pr, url=f"https://github.com/{REPO}/pull/701")
    assert version() not in (configured, linked)


@every_scope
def test_a_re_import_moves_the_version(sample_plan, sample_plan_source):
    before = version()
    title = sample_plan.batches.get(number=3).title
    changed = sample_plan_source.replace(title.encode(), b"A renamed third batch", 1)
    assert changed != sample_plan_source
    plan_import(source=changed, slug=SLUG, source_name="edited")
    assert version() != before


def test_reading_changes_nothing(sample_plan, stakeholder):
    before = version()
    client = client_for(stakeholder)
    for url in (page_urls()["plan"], page_urls()["batch"], page_urls()["present"]):
        client.get(url)
        client.get(url, **HTMX)
    assert version() == before


def test_a_batch_page_follows_its_own_batch_and_its_predecessors_gates_only(sample_plan, engineer):
    """A tick re-evaluates its gate in batch 3: batch 3's pages and batch 4's (whose start that gate holds)
    move; batch 1's and batch 2's (its predecessor) do not; the plan's (the overview shows every batch) does."""
    item = ChecklistItem.objects.filter(
        gate__batch__plan=sample_plan, gate__batch__number=3, evidence_required=False
    ).first()

    def versions() -> tuple[str, ...]:
        return (read_version(slug=SLUG)[0], *(read_version(slug=SLUG, number=n)[0] for n in (1, 2, 3, 4)))

    before = versions()
    signoff_record(item=item, user=engineer, action="tick", note="")
    moved = tuple(a != b for a, b in zip(before, versions(), strict=True))
    assert moved == (True, False, False, True, True)


def test_another_plans_changes_leave_this_version_alone(sample_plan, small_plan, engineer):
    before = version()
    item = ChecklistItem.objects.filter(gate__batch__plan=small_plan, gate__batch__state=BatchState.IN_PROGRESS).first()
    signoff_record(item=item, user=engineer, action="note", note="on another plan")
    assert version() == before


# -- the poll --------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["plan", "batch", "present"])
def test_the_page_carries_its_version_so_the_first_poll_is_a_204(sample_plan, stakeholder, page):
    client = client_for(stakeholder)
    html = client.get(page_urls()[page]).content.decode()
    current = read_version(slug=SLUG, number=None if page == "plan" else 1)[0]
    assert f'hx-vals=\'{{"v": "{current}"}}\'' in html
    assert f'hx-trigger="every {POLL_SECONDS}s, gatehouse:changed"' in html  # and when the events stream says so
    response = client.get(page_urls()[page], {"v": current}, **HTMX)
    assert response.status_code == 204
    assert response.templates == []  # nothing rendered


@pytest.mark.parametrize("page", ["plan", "batch"])
@pytest.mark.parametrize("shared_ms", [0, 60_000])
def test_an_unchanged_poll_costs_the_same_few_queries_on_a_small_and_a_big_plan(
    small_plan, big_plan, engineer, page, settings, shared_ms
):
    settings.LIVE_VERSION_CACHE_MS = shared_ms
    client = client_for(engineer)
    counts = []
    for plan in (small_plan, big_plan):
        url = (
            reverse("pages:plan", kwargs={"slug": plan.slug})
            if page == "plan"
            else reverse("pages:batch", kwargs={"slug": plan.slug, "number": 1})
        )
        current = read_version(slug=plan.slug, number=None if page == "plan" else 1)[0]
        client.get(url, {"v": current}, **HTMX)  # the session is read once
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, {"v": current}, **HTMX).status_code == 204
        counts.append(len(queries))
    # The session, the user and their roles come from the cache (cached_db sessions, portal/auth.py):
    # only the version is read, and while a shared reading is fresh, not even that.
    assert counts[0] == counts[1] == (1 if shared_ms == 0 else 0)


def test_polls_share_a_fresh_reading_of_the_version_then_see_the_change(sample_plan, engineer, settings):
    settings.LIVE_VERSION_CACHE_MS = 60_000
    client = client_for(engineer)
    url = page_urls()["batch"]
    seen = read_version(slug=SLUG, number=1)[0]
    assert client.get(url, {"v": seen}, **HTMX).status_code == 204
    item = ChecklistItem.objects.filter(
        gate__batch__plan=sample_plan, gate__batch__number=1, evidence_required=False
    ).first()
    signoff_record(item=item, user=engineer, action="note", note="a change")
    # Within the reading's age the poll still answers from it...
    assert client.get(url, {"v": seen}, **HTMX).status_code == 204
    # ...and once it is older than LIVE_VERSION_CACHE_MS, the next poll reads the version again.
    settings.LIVE_VERSION_CACHE_MS = 1
    time.sleep(0.01)
    changed = client.get(url, {"v": seen}, **HTMX)
    assert changed.status_code == 200
    assert "a change" in changed.content.decode()
    # A full page always reads the version afresh.
    assert read_version(slug=SLUG, number=1)[0] in client.get(url).content.decode()


def test_a_poll_for_a_missing_batch_is_a_404(sample_plan, stakeholder):
    url = reverse("pages:batch", kwargs={"slug": SLUG, "number": 99})
    assert client_for(stakeholder).get(url, {"v": "x"}, **HTMX).status_code == 404


def test_a_poll_needs_a_role(sample_plan, outsider):
    current = read_version(slug=SLUG, number=1)[0]
    assert client_for(outsider).get(page_urls()["batch"], {"v": current}, **HTMX).status_code == 403


def test_every_source_reaches_its_plan():
    # A table joins the list by naming its path to the batch; the version query must build for each.
    assert {source.model.__name__ for source in LIVE_SOURCES} >= {
        "Batch",
        "BatchEvent",
        "PlannedPR",
        "Gate",
        "GateEvent",
        "SignOff",
        "Evidence",
        "ReviewSession",
        "ReviewConfirmation",
        "ReviewDecision",
        "ReleaseCheckRevision",
    }


def test_an_approved_batch_stops_presenting_mode_polls_without_rendering(journey):
    journey.approve(journey.batch(1))
    assert journey.batch(1).state == BatchState.APPROVED
    client = client_for(journey.release_manager)
    page = client.get(page_urls()["present"])  # a page that already shows the approval
    version = re.search(r'"v": "(\w+)"', page.content.decode().replace("&quot;", '"'))
    assert version is not None
    response = client.get(page_urls()["present"], {"v": version.group(1)}, **HTMX)
    assert response.status_code == 286
    assert response.templates == []


# -- rendered live regions, cached per version and role set ------------------------------


def test_an_unchanged_overview_is_rendered_once_per_role_set(sample_plan, release_manager, django_assert_num_queries):
    url = page_urls()["plan"]
    first = client_for(release_manager)
    assert "Next for you" in first.get(url).content.decode()
    other = client_for(UserFactory(username="rhea", role="release_manager"))
    # Their user and roles (their session is in the cache) and the version: the page is the
    # first viewer's render, so no plan and no summaries.
    with django_assert_num_queries(3):
        html = other.get(url).content.decode()
    assert html.count('class="card batch-card"') == sample_plan.batches.count()


def test_each_viewer_gets_their_own_csrf_token_in_a_cached_region(sample_plan, release_manager):
    url = page_urls()["plan"]
    viewers = []
    for name in ("rm-one", "rm-two"):  # the second is served the first one's render
        client = client_for(UserFactory(username=name, role="release_manager"), csrf=True)
        region = client.get(url).content.decode().split('id="batch-list"', 1)[1]
        assert CSRF_PLACEHOLDER not in region
        form = re.search(r'<form method="post" action="([^"]+)" class="inline">', region)[1]
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', region)[1]
        viewers.append((client, form, token))
    assert viewers[0][2] != viewers[1][2]
    for client, form, token in viewers:
        # Each token passes the CSRF check (a refusal would be a 403): start batch 1.
        response = client.post(form, {"csrfmiddlewaretoken": token, "next": url})
        assert response.status_code == 302, response.status_code


def test_roles_see_their_own_cached_region(sample_plan, release_manager, stakeholder):
    url = page_urls()["plan"]
    assert "Start this batch." in client_for(release_manager).get(url).content.decode()
    assert "Start this batch." not in client_for(stakeholder).get(url).content.decode()


def test_a_change_renders_the_region_again(sample_plan, engineer, release_manager):
    url = page_urls()["plan"]
    client = client_for(release_manager)
    assert "Start this batch." in client.get(url).content.decode()
    sample_plan.batches.get(number=1).start(by=release_manager)
    html = client.get(url).content.decode()
    assert "Start this batch." not in html.split('id="batch-2"')[0]


@pytest.mark.services
def test_on_postgresql_the_version_query_is_prepared_once_per_kept_connection(sample_plan, settings):
    """Planning its subqueries cost as much as running them; prepared, a kept connection plans it once."""
    assert connection.settings_dict["CONN_MAX_AGE"], "production keeps connections on PostgreSQL"
    before = version()
    for _ in range(7):  # PostgreSQL switches to the generic plan after five custom ones
        read_version(slug=SLUG, number=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), max(generic_plans) FROM pg_prepared_statements WHERE NOT from_sql")
        prepared, generic_plans = cursor.fetchone()
    assert prepared == 1  # only the version query: every other query is bound client-side
    assert generic_plans >= 1
    assert read_version(slug=SLUG)[0] == before  # the generic plan reads what the first, custom plans read


@pytest.mark.parametrize("template", ["pages/batch.html", "pages/plan.html", "pages/present.html"])
def test_oob_only_adds_the_attribute_in_a_live_partial(template):
    """live_html renders a partial once, out-of-band, and gives the page that markup without OOB_ATTRIBUTE:
    exact only while ``oob`` changes nothing else in the page's template (its live partial and the
    partials that one shows) or in what it includes."""
    templates = settings.BASE_DIR / "templates"
    source = (templates / template).read_text()
    assert "{% partialdef live" in source
    assert "{% if oob %}" + OOB_ATTRIBUTE + "{% endif %}" in source
    assert source.count("oob") == source.count("{% if oob %}" + OOB_ATTRIBUTE + "{% endif %}") * 2
    for included in re.findall(r'{% include "([^"]+)"', source):
        assert "oob" not in (templates / included).read_text() or included == "includes/poller.html"


@pytest.mark.parametrize("page", ["plan", "batch", "present"])
def test_after_a_change_only_the_first_poll_builds_the_region(sample_plan, engineer, page, settings):
    """Every open page polls with the old version after a change; the others get the first one's render
    without building the page's context again: the version is all they read."""
    settings.LIVE_VERSION_CACHE_MS = 0
    url = page_urls()[page]
    first, second = client_for(engineer), client_for(UserFactory(username="erin", role="engineer"))
    for client in (first, second):
        client.get(url)  # each has the page open, and its session and user are in the cache
    old = re.search(r'"v": "(\w+)"', first.get(url).content.decode().replace("&quot;", '"'))[1]
    item = ChecklistItem.objects.filter(
        gate__batch__plan=sample_plan, gate__batch__number=1, evidence_required=False
    ).first()
    signoff_record(item=item, user=engineer, action="note", note="seen on staging")
    with CaptureQueriesContext(connection) as built:
        assert first.get(url, {"v": old}, **HTMX).status_code == 200
    with CaptureQueriesContext(connection) as served:
        response = second.get(url, {"v": old}, **HTMX)
    assert response.status_code == 200
    assert len(built) > 2
    assert len(served) == 1  # the version
