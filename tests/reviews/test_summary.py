"""The summary comment: a deterministic draft (golden file), posted once per PR against the fake GitHub."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from providers.fake import DemoWorld, FakeProviders
from reviews.models import Decision, SummaryComment
from reviews.services import (
    FollowUpInput,
    checklist_items_for,
    review_attendee_add,
    review_confirm,
    review_decide,
    review_open,
)
from reviews.summary import SummaryError, summary_body, summary_data, summary_draft, summary_marker, summary_post
from tests.journey import REPO

GOLDEN = Path(__file__).parent / "golden" / "summary_batch_1.md"
TIMES = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")
SPAN = re.compile(r": [^:]*? from start to approval\.")


def _reviewed(batch, release_manager):
    """Batch 1's review: Rita and Priya confirm the checklist; approved with one follow-up."""
    session = review_open(batch=batch, by=release_manager)
    rita = session.attendees.get()
    priya = review_attendee_add(session=session, by=release_manager, name="Priya Raman")
    for index, item in enumerate(checklist_items_for(batch)):
        review_confirm(
            session=session,
            item=item,
            attendee=rita if index % 2 == 0 else priya,
            note=f"Checked on the projector ({index + 1})",
            by=release_manager,
        )
    review_decide(
        session=session,
        decision=Decision.APPROVED_WITH_FOLLOW_UPS,
        by=release_manager,
        follow_ups=[FollowUpInput("Re-run the Sentry check after the outage", "olga")],
    )
    batch.refresh_from_db()
    return batch


def normalised(text: str) -> str:
    """Moments and the span between them differ per run; everything else must match the golden file."""
    return SPAN.sub(": <span> from start to approval.", TIMES.sub("<time>", text))


def test_the_draft_for_a_reviewed_batch_matches_the_golden_file(journey, checklist, release_manager):
    """Batch 1 of the sample plan: merged, CI green, the AI reviewer timed out (waived), signed, reviewed."""
    from batches.models import GateKind

    batch = journey.batch(1)
    batch.start(by=release_manager)
    journey.open_prs(batch)
    journey.merge(batch)
    journey.report(batch, ci="success", ai="timed_out")
    journey.sync(batch)
    journey.sign_checklist(batch)
    batch.gates.get(kind=GateKind.AI_REVIEW).waive(by=release_manager, reason="Claude is rate limited; read by hand")
    batch.mark_ready(by=release_manager)
    batch = _reviewed(batch, release_manager)
    draft = normalised(summary_draft(summary_data(batch)))
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(draft)
    assert draft == GOLDEN.read_text()
    # Deterministic: drafting again gives the same text.
    assert normalised(summary_draft(summary_data(batch))) == draft


def test_the_draft_costs_a_fixed_number_of_queries(ready_batch, release_manager, django_assert_max_num_queries):
    batch = _reviewed(ready_batch, release_manager)
    with django_assert_max_num_queries(14):
        summary_draft(summary_data(batch))


# -- posting ------------------------------------------------------------------------------


@pytest.fixture
def github(settings, tmp_path):
    """A fake GitHub that keeps comments (the simulated world), for the repository the journey links."""
    world = DemoWorld(path=tmp_path / "world.json")
    world.add_repository(REPO)
    server = FakeProviders(world=world).start()
    settings.GITHUB_API_URL = server.github_url
    yield server, world
    server.stop()


def _comments(world):
    return [(c.number, c.body) for c in world.state.repositories[REPO.lower()].comments]


def test_posting_creates_exactly_one_comment_per_pr_and_records_its_url(ready_batch, release_manager, github):
    _server, world = github
    batch = _reviewed(ready_batch, release_manager)
    results = summary_post(batch=batch, text="Batch 1 is approved.", by=release_manager)
    assert [(r.pr.number, r.outcome) for r in results] == [(1, "posted"), (2, "posted")]
    assert sorted(n for n, _ in _comments(world)) == [101, 102]
    body = f"Batch 1 is approved.\n\n{summary_marker(batch)}\n"
    assert {b for _, b in _comments(world)} == {body}
    recorded = list(SummaryComment.objects.order_by("pr__number").values_list("html_url", "found_existing"))
    assert recorded == [(r.url, False) for r in results]
    assert recorded[0][0].startswith(f"https://github.com/{REPO}/pull/101#issuecomment-")
    assert summary_marker(batch) == "<!-- gatehouse-summary batch=batch-plan-2025-10/1 -->"


def test_a_retry_after_a_502_posts_only_the_missing_comment(ready_batch, release_manager, github):
    server, world = github
    batch = _reviewed(ready_batch, release_manager)
    second = f"/github/repos/{REPO}/issues/102/comments"
    server.json(second, {"message": "Server Error"}, status=502, method="POST")

    first_try = summary_post(batch=batch, text="Summary", by=release_manager)

    assert [(r.pr.number, r.outcome) for r in first_try] == [(1, "posted"), (2, "failed")]
    assert "502" in first_try[1].error or "GitHub" in first_try[1].error
    assert sorted(n for n, _ in _comments(world)) == [101]
    server.routes.pop(("POST", second))  # GitHub is back
    server.clear_seen()

    retry = summary_post(batch=batch, text="Summary", by=release_manager)

    assert [(r.pr.number, r.outcome) for r in retry] == [(1, "already"), (2, "posted")]
    assert sorted(n for n, _ in _comments(world)) == [101, 102]
    # The retry never touched PR #101's conversation again.
    assert [s.path for s in server.requests_to("/github", method="POST")] == [second]


def test_posting_again_finds_the_existing_comments_and_does_not_duplicate(ready_batch, release_manager, github):
    server, world = github
    batch = _reviewed(ready_batch, release_manager)
    summary_post(batch=batch, text="Summary", by=release_manager)
    server.clear_seen()
    again = summary_post(batch=batch, text="Summary, edited", by=release_manager)
    assert [r.outcome for r in again] == ["already", "already"]
    assert len(_comments(world)) == 2
    assert server.requests_to("/github") == []


def test_a_comment_github_stored_but_whose_answer_was_lost_is_found_by_its_marker(ready_batch, release_manager, github):
    """A 502 after GitHub applied the POST: the next attempt lists the comments and finds the marker."""
    _server, world = github
    batch = _reviewed(ready_batch, release_manager)
    world.comment(REPO, 102, body=f"Earlier words\n\n{summary_marker(batch)}\n")
    world.comment(REPO, 102, body="An unrelated review comment")
    results = summary_post(batch=batch, text="Summary", by=release_manager)
    assert [(r.pr.number, r.outcome) for r in results] == [(1, "posted"), (2, "found")]
    assert [n for n, _ in _comments(world)].count(102) == 2  # nothing added to #102
    found = SummaryComment.objects.get(pr__number=2)
    assert found.found_existing
    assert found.html_url == results[1].url


@pytest.mark.parametrize("text", ["", "   ", "<!-- gatehouse-summary batch=batch-plan-2025-10/1 -->"])
def test_an_empty_summary_is_refused_and_nothing_is_posted(ready_batch, release_manager, github, text):
    server, _world = github
    with pytest.raises(SummaryError, match="The summary is empty"):
        summary_post(batch=ready_batch, text=text, by=release_manager)
    assert server.requests_to("/github") == []
    assert not SummaryComment.objects.exists()


def test_the_marker_is_added_once(ready_batch):
    marker = summary_marker(ready_batch)
    assert summary_body(ready_batch, f"Hello\n{marker}") == f"Hello\n\n{marker}\n"
