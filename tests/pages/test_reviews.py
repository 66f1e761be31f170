"""The review pages: who may do what, without and with htmx, and what each costs in queries."""

from __future__ import annotations

import pytest
from django.urls import reverse

from batches.models import BatchState
from reviews.checklist import checklist_import
from reviews.models import Decision, ReviewAttendee, ReviewConfirmation, ReviewDecision, ReviewSession
from reviews.services import checklist_items_for, review_attendee_add, review_confirm, review_decide, review_open
from tests.pages.helpers import HTMX, SLUG, client_for, page_text, query_count

KW = {"slug": SLUG, "number": 1}


def url(name: str, **extra) -> str:
    return reverse(f"pages:{name}", kwargs={**KW, **extra})


def _open(ready_batch, release_manager):
    return review_open(batch=ready_batch, by=release_manager)


# -- reading -------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["release_manager", "engineer", "ops", "stakeholder"])
def test_every_role_reads_the_review_and_the_summary(request, ready_batch, persona):
    client = client_for(request.getfixturevalue(persona))
    assert client.get(url("review")).status_code == 200
    assert client.get(url("summary")).status_code == 200


def test_outsiders_get_403_and_strangers_the_login(sample_plan, outsider):
    for name in ("review", "summary"):
        assert client_for(outsider).get(url(name)).status_code == 403
        assert client_for().get(url(name))["Location"].startswith(reverse("login"))


def test_only_release_managers_see_the_controls(ready_batch, release_manager, stakeholder):
    _open(ready_batch, release_manager)
    manager = page_text(client_for(release_manager).get(url("review")))
    assert "Add attendee" in manager
    assert "Record the decision" in manager
    reader = page_text(client_for(stakeholder).get(url("review")))
    assert "Add attendee" not in reader
    assert "Record the decision" not in reader
    assert "Not confirmed." in reader


def test_a_planned_batch_says_when_a_review_can_open(sample_plan, release_manager):
    html = page_text(client_for(release_manager).get(url("review")))
    assert "Batch 1 is planned: a review opens once a release manager marks it ready for review." in html
    assert ">Open review</button>" not in html


# -- every action: allowed role, forbidden role, anonymous, wrong method, CSRF ------------------


ACTIONS = ["review-open", "review-attendee", "review-decide", "summary-post"]


@pytest.mark.parametrize("name", ACTIONS)
@pytest.mark.parametrize("persona", ["engineer", "ops", "stakeholder", "outsider"])
def test_other_roles_are_refused(request, ready_batch, name, persona):
    response = client_for(request.getfixturevalue(persona)).post(url(name), {"name": "x", "decision": "approved"})
    assert response.status_code == 403
    assert not ReviewSession.objects.exists()


@pytest.mark.parametrize("name", ACTIONS)
def test_actions_need_login_post_and_csrf(ready_batch, release_manager, name):
    target = url(name)
    assert client_for().post(target)["Location"].startswith(reverse("login"))
    assert client_for(release_manager).get(target).status_code == 405
    assert client_for(release_manager, csrf=True).post(target).status_code == 403
    assert not ReviewSession.objects.exists()


def test_confirm_checks_role_method_and_csrf(ready_batch, release_manager, engineer):
    _open(ready_batch, release_manager)
    item = checklist_items_for(ready_batch)[0]
    target = url("review-confirm", item_pk=item.pk)
    assert client_for(engineer).post(target, {"note": "x"}).status_code == 403
    assert client_for().post(target)["Location"].startswith(reverse("login"))
    assert client_for(release_manager).get(target).status_code == 405
    assert client_for(release_manager, csrf=True).post(target).status_code == 403
    assert not ReviewConfirmation.objects.exists()


# -- the review, without JavaScript -----------------------------------------------------------


def test_open_add_confirm_and_approve_with_plain_forms(ready_batch, release_manager, stakeholder, journey):
    client = client_for(release_manager)
    assert client.post(url("review-open"))["Location"] == url("review")
    assert client.post(url("review-attendee"), {"user": stakeholder.pk})["Location"] == url("review") + "#attendees"
    client.post(url("review-attendee"), {"name": "Priya Raman"})
    session = ReviewSession.objects.get()
    priya = session.attendees.get(name="Priya Raman")
    for item in checklist_items_for(ready_batch):
        response = client.post(url("review-confirm", item_pk=item.pk), {"attendee": priya.pk, "note": "Seen"})
        assert response["Location"] == url("review") + f"#check-{item.pk}"
    response = client.post(
        url("review-decide"),
        {
            "decision": Decision.APPROVED_WITH_FOLLOW_UPS,
            "follow_up_text": ["Re-run Sentry", ""],
            "follow_up_owner": ["olga", ""],
        },
    )
    assert response["Location"] == ready_batch.get_absolute_url()
    ready_batch.refresh_from_db()
    assert ready_batch.state == BatchState.APPROVED
    html = page_text(client.get(ready_batch.get_absolute_url()))
    assert "Review 1: Approved with follow-ups" in html
    assert 'Re-run Sentry <span class="muted">(owner: olga)</span>' in html
    assert journey.batch(2).start_blockers() == []


def test_a_refused_decision_keeps_what_was_typed_and_writes_nothing(ready_batch, release_manager):
    _open(ready_batch, release_manager)
    response = client_for(release_manager).post(
        url("review-decide"),
        {"decision": Decision.APPROVED_WITH_FOLLOW_UPS, "follow_up_text": ["Fix the docs"], "follow_up_owner": [""]},
    )
    assert response.status_code == 422
    html = page_text(response)
    assert "Every follow-up needs both what is to be done and who owns it." in html
    assert 'value="Fix the docs"' in html
    assert not ReviewDecision.objects.exists()


def test_send_back_needs_a_reason_and_returns_the_batch_to_in_progress(ready_batch, release_manager):
    _open(ready_batch, release_manager)
    client = client_for(release_manager)
    refused = client.post(url("review-decide"), {"decision": Decision.SENT_BACK, "reason": " "})
    assert refused.status_code == 422
    assert "Write why the batch is sent back" in page_text(refused)
    client.post(url("review-decide"), {"decision": Decision.SENT_BACK, "reason": "Smoke tests missing"})
    ready_batch.refresh_from_db()
    assert ready_batch.state == BatchState.IN_PROGRESS
    html = page_text(client.get(url("review")))
    assert "Review 1: Sent back" in html
    assert "Batch 1 is in progress: a review opens once a release manager marks it ready for review." in html


def test_a_confirmation_without_a_note_is_refused(ready_batch, release_manager):
    session = _open(ready_batch, release_manager)
    item = checklist_items_for(ready_batch)[0]
    client = client_for(release_manager)
    client.post(url("review-confirm", item_pk=item.pk), {"attendee": session.attendees.get().pk, "note": ""})
    assert not ReviewConfirmation.objects.exists()


# -- the same with htmx ---------------------------------------------------------------------


def test_htmx_swaps_the_attendee_list_and_a_confirmed_row(ready_batch, release_manager):
    session = _open(ready_batch, release_manager)
    client = client_for(release_manager)
    added = client.post(url("review-attendee"), {"name": "Priya Raman"}, **HTMX)
    assert added.status_code == 200
    assert added.content.decode().lstrip().startswith('<section id="attendees"')
    assert "Priya Raman" in added.content.decode()
    twice = client.post(url("review-attendee"), {"name": "priya raman"}, **HTMX)
    assert twice.status_code == 422
    assert "Priya Raman is already on the attendee list." in twice.content.decode()

    item = checklist_items_for(ready_batch)[0]
    priya = session.attendees.get(name="Priya Raman")
    refused = client.post(url("review-confirm", item_pk=item.pk), {"attendee": priya.pk, "note": ""}, **HTMX)
    assert refused.status_code == 422
    assert "Write a note" in refused.content.decode()
    row = client.post(url("review-confirm", item_pk=item.pk), {"attendee": priya.pk, "note": "Seen it"}, **HTMX)
    assert row.status_code == 200
    body = row.content.decode().lstrip()
    assert body.startswith(f'<li class="row review-item" id="check-{item.pk}"')
    assert "Confirmed</strong> by Priya Raman" in body


def test_htmx_open_and_decide_redirect_the_whole_page(ready_batch, release_manager):
    client = client_for(release_manager)
    opened = client.post(url("review-open"), **HTMX)
    assert opened["HX-Redirect"] == url("review")
    decided = client.post(url("review-decide"), {"decision": Decision.SENT_BACK, "reason": "Not yet"}, **HTMX)
    assert decided["HX-Redirect"] == ready_batch.get_absolute_url()


# -- presenting mode shows the review live ---------------------------------------------------


def test_presenting_mode_polls_the_review(ready_batch, release_manager):
    session = _open(ready_batch, release_manager)
    present = reverse("pages:present", kwargs=KW)
    client = client_for(release_manager)
    first = client.get(present, **HTMX)
    assert "Attendees: rita" in first.content.decode()
    review_attendee_add(session=session, by=release_manager, name="Priya Raman")
    item = checklist_items_for(ready_batch)[0]
    review_confirm(
        session=session, item=item, attendee=session.attendees.get(name="Priya Raman"), note="ok", by=release_manager
    )
    changed = page_text(client.get(present, {"v": "old"}, **HTMX))
    assert "Attendees: rita, Priya Raman" in changed
    assert f"{item.text} – confirmed by Priya Raman: “ok”" in changed
    assert "Decision: not yet." in changed


# -- query counts ----------------------------------------------------------------------------


def test_review_page_with_an_open_session_costs_the_same_however_big(
    ready_batch, release_manager, journey, django_assert_max_num_queries
):
    client = client_for(release_manager)

    def review_round(*, attendees: int, confirmations: int):
        """A review sent back, then the batch ready again with a new review open and partly confirmed."""
        earlier = _open(ready_batch, release_manager)
        review_decide(session=earlier, decision=Decision.SENT_BACK, by=release_manager, reason="again")
        ready_batch.mark_ready(by=release_manager)
        session = _open(ready_batch, release_manager)
        for n in range(attendees):
            review_attendee_add(session=session, by=release_manager, name=f"Guest {session.number}-{n}")
        seats = list(ReviewAttendee.objects.filter(session=session))
        for n, item in enumerate(checklist_items_for(ready_batch)[:confirmations]):
            review_confirm(session=session, item=item, attendee=seats[n % len(seats)], note=f"n{n}", by=release_manager)

    review_round(attendees=1, confirmations=1)
    small = query_count(client, url("review"))

    # Grow everything the page lists: more earlier reviews, a long checklist, attendees and confirmations.
    lines = "\n".join(f"- [ ] Extra check {n}" for n in range(40))
    checklist_import(plan=journey.plan, source=f"# Extra\n{lines}\n".encode(), source_name="long.md")
    review_round(attendees=8, confirmations=30)

    with django_assert_max_num_queries(small):
        response = client.get(url("review"))
    assert page_text(response).count("Confirmed</strong> by") == 30
    assert "Review 3 is open" in page_text(response)
    assert small <= 16
    # The batch page (with its review panel) stays within its budget too.
    assert query_count(client, ready_batch.get_absolute_url()) <= 24


# -- the summary comment page -------------------------------------------------------------------


@pytest.fixture
def github_world(settings, tmp_path):
    from providers.fake import DemoWorld, FakeProviders
    from tests.journey import REPO

    world = DemoWorld(path=tmp_path / "world.json")
    world.add_repository(REPO)
    server = FakeProviders(world=world).start()
    settings.GITHUB_API_URL = server.github_url
    yield server, world
    server.stop()


def test_the_summary_page_shows_the_draft_and_posting_shows_each_pr(ready_batch, release_manager, github_world):
    from tests.journey import REPO

    server, world = github_world
    client = client_for(release_manager)
    html = page_text(client.get(url("summary")))
    assert "## Gatehouse · Batch 1 – Backend Reliability &amp; Options Routing" in html
    assert "Post to GitHub" in html
    second = f"/github/repos/{REPO}/issues/102/comments"
    server.json(second, {"message": "Server Error"}, status=502, method="POST")
    failed = client.post(url("summary-post"), {"text": "Edited summary"})
    assert failed.status_code == 422
    text = page_text(failed)
    assert "PR #1: posted" in text
    assert 'PR #2: <strong class="error">failed</strong>' in text
    assert "Edited summary" in text  # what was typed stays for the retry
    server.routes.pop(("POST", second))
    retried = client.post(url("summary-post"), {"text": "Edited summary"}, **HTMX)
    assert retried.status_code == 200
    assert retried.content.decode().lstrip().startswith('<section id="post-results"')
    assert "PR #1: already posted" in page_text(retried)
    assert "PR #2: posted" in page_text(retried)
    assert len(world.state.repositories[REPO.lower()].comments) == 2


def test_an_empty_summary_is_refused_on_the_page(ready_batch, release_manager, github_world):
    server, _world = github_world
    response = client_for(release_manager).post(url("summary-post"), {"text": "  "})
    assert response.status_code == 422
    assert "The summary is empty" in page_text(response)
    assert server.requests_to("/github") == []


def test_readers_see_the_draft_without_the_post_button(ready_batch, stakeholder):
    html = page_text(client_for(stakeholder).get(url("summary")))
    assert "Post to GitHub" not in html
    assert "### Readiness gates" in html
