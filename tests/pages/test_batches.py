"""A batch's review page, presenting mode, lifecycle moves and PR links: pages.views.batches."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from batches.models import BatchState, GateKind, GateState, Plan, PlannedPR
from signoffs.models import ChecklistItem
from signoffs.services import signoff_record
from tests.factories import UserFactory
from tests.pages.helpers import HTMX, SLUG, client_for, link_url, move_url, page_text, page_urls, query_count


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


def test_presenting_mode_shows_the_approval_then_stops_polling(journey):
    journey.approve(journey.batch(1))
    client = client_for(journey.release_manager)
    # A projector that still shows the open review gets the decision first...
    final = client.get(page_urls()["present"], {"v": "what-it-showed-before"}, **HTMX)
    assert final.status_code == 200
    assert "Decision: Approved" in final.content.decode()
    version = re.search(r"&quot;v&quot;: &quot;(\w+)&quot;|\"v\": \"(\w+)\"", final.content.decode())
    assert version is not None
    # ...and once it shows it, polling stops.
    shown = version.group(1) or version.group(2)
    assert client.get(page_urls()["present"], {"v": shown}, **HTMX).status_code == 286


# -- query counts do not grow with the plan ----------------------------------------------


@pytest.mark.parametrize("state", [BatchState.IN_PROGRESS, BatchState.PLANNED, BatchState.APPROVED])
def test_review_page_query_count_is_constant(small_plan, big_plan, engineer, django_assert_max_num_queries, state):
    client = client_for(engineer)
    small_batch = small_plan.batches.filter(state=state).last()
    big_batch = big_plan.batches.filter(state=state).last()
    small = query_count(client, small_batch.get_absolute_url())
    with django_assert_max_num_queries(small):
        response = client.get(big_batch.get_absolute_url())
    html = response.content.decode()
    assert html.count('class="row gate ') == 8
    assert "Sign-off history" in html or state == BatchState.PLANNED
    assert (
        small == query_count(client, big_batch.get_absolute_url()) <= 15
    )  # 14 before the review panel (its sessions) joined the page
    # The poll costs the same.
    assert query_count(client, small_batch.get_absolute_url() + "?v=x") == small


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


def test_mark_ready_then_the_move_is_the_review(journey):
    sample_plan, release_manager = journey.plan, journey.release_manager
    client = client_for(release_manager)
    client.post(move_url("start"))
    journey.pass_everything(journey.batch(1))
    client.post(move_url("ready"))
    assert sample_plan.batches.get(number=1).state == BatchState.READY_FOR_REVIEW
    html = page_text(client.get(page_urls()["batch"]))
    # No bare "Approve" any more: approval is the review's decision.
    assert ">Open review</button>" in html
    assert "Approve Batch 1" not in html
    review_open = reverse("pages:review-open", kwargs={"slug": SLUG, "number": 1})
    assert client.post(review_open)["Location"] == reverse("pages:review", kwargs={"slug": SLUG, "number": 1})
    assert ">Continue review</button>" in page_text(client.get(page_urls()["batch"]))
    assert sample_plan.batches.get(number=1).state == BatchState.READY_FOR_REVIEW


def test_the_bare_approve_url_is_gone(sample_plan, release_manager):
    url = f"/plans/{SLUG}/batches/1/approve/"
    assert client_for(release_manager).post(url).status_code == 404


@pytest.mark.parametrize("move", ["start", "ready"])
@pytest.mark.parametrize("persona", ["engineer", "ops", "stakeholder", "outsider"])
def test_only_release_managers_move_batches(request, sample_plan, move, persona):
    response = client_for(request.getfixturevalue(persona)).post(move_url(move))
    assert response.status_code == 403
    assert "Only release managers can start, close or approve batches." in response.content.decode()
    assert sample_plan.batches.get(number=1).state == BatchState.PLANNED


@pytest.mark.parametrize("move", ["start", "ready"])
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


def test_a_blocked_start_is_shown_disabled_with_its_reason_and_an_override(journey):
    rm = client_for(journey.release_manager)
    html = page_text(rm.get(reverse("pages:batch", kwargs={"slug": SLUG, "number": 2})))
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
    html = page_text(rm.get(page_urls()["batch"]))
    assert 'disabled aria-describedby="move-refusal">Mark ready for review</button>' in html
    assert "CI gate “pytest backend/tests/test_options_endpoint.py” needs configuration." in html
    assert "Manual gate “Options expiration dropdown populates" in html
    assert "(0 of 1 item ticked)" in html
    journey.pass_everything(batch)
    html = page_text(rm.get(page_urls()["batch"]))
    assert '<button type="submit" class="button">Mark ready for review</button>' in html
    assert "Next for you:</span> Mark it ready for review." in html


def test_approve_is_disabled_in_the_review_when_a_gate_turned_after_ready(journey):
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.pass_everything(batch)
    batch.mark_ready(by=journey.release_manager)
    journey.report(batch, ci="failure")
    journey.sync(batch)
    client = client_for(journey.release_manager)
    html = page_text(client.get(page_urls()["batch"]))
    assert "Ready for review, but a gate turned" in html
    assert "is failing." in html
    client.post(reverse("pages:review-open", kwargs={"slug": SLUG, "number": 1}))
    review = page_text(client.get(reverse("pages:review", kwargs={"slug": SLUG, "number": 1})))
    assert 'value="approved" disabled aria-describedby="decision-approved-refusal" required>' in review
    assert "Batch 1 cannot be approved now. CI gate" in review
    # Sending back stays possible.
    assert 'value="sent_back" required>' in review


def test_ticks_are_disabled_with_the_reason(journey):
    batch2 = journey.approve(journey.batch(1)) and journey.batch(2)
    batch2.start(by=journey.release_manager)
    engineer = client_for(journey.engineer)
    html = page_text(engineer.get(reverse("pages:batch", kwargs={"slug": SLUG, "number": 2})))
    assert "disabled>Tick</button>" in html
    assert "This item needs screenshot evidence: upload a file before ticking it." in html
    approved = page_text(engineer.get(page_urls()["batch"]))
    assert "disabled>Untick</button>" in approved
    assert "Batch 1 is approved; its sign-offs are final." in approved
    ops = page_text(client_for(journey.ops).get(page_urls()["batch"]))
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
    assert f"Next for you:</span> Waiting for ops to upload the screenshot for {quoted}; then tick it." in page_text(
        client_for(journey.engineer).get(url)
    )
    assert f"Next for you:</span> Upload the screenshot for {quoted}." in page_text(client_for(journey.ops).get(url))
    evidence_add(item=item, upload=screenshot(), by=journey.ops)
    assert f"Next for you:</span> Tick what you have verified: {quoted}." in page_text(
        client_for(journey.engineer).get(url)
    )
    assert "Next for you" not in page_text(client_for(journey.ops).get(url))
    signoff_record(item=item, user=journey.engineer, action="tick")
    assert "Next for you" not in page_text(client_for(journey.engineer).get(url))


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
    html = page_text(client_for(stakeholder).get(page_urls()["batch"]))
    assert "is needs configuration" not in html
    assert "CI gate “pytest backend/tests/test_options_endpoint.py” needs configuration." in html
    assert "2 of 3 gates outstanding: 1 pending." not in html  # needs-configuration counts as pending
    assert "2 of 3 gates outstanding: 2 pending." in html
    journey.configure()  # the check name is set again
    journey.sync(batch)
    html = page_text(client_for(stakeholder).get(page_urls()["batch"]))
    assert "1 of 3 gates outstanding: 1 pending." in html


def test_presenting_mode_lists_blockers_prs_and_waivers(journey):
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.open_prs(batch)
    journey.report(batch, ci="success", ai="timed_out")
    journey.sync(batch)
    ai = batch.gates.get(kind=GateKind.AI_REVIEW)
    ai.waive(by=journey.release_manager, reason="Claude rate limited; reviewed by hand")
    html = page_text(client_for(journey.engineer).get(page_urls()["present"]))
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
    html = page_text(client_for(engineer).get(page_urls()["batch"]))
    assert "Show all 7 events (2 earlier)" in html
    assert html.count("note number 0") == 1  # only in the expandable full history
    assert html.count("note number 6") == 2  # the last five, and the full history


def test_an_override_is_confirmed_then_shown_on_both_batches(journey):
    journey.batch(1).start(by=journey.release_manager)
    rm = client_for(journey.release_manager)
    reason = "Sentry DSN fix must ship before the freeze"
    confirm = rm.post(move_url("start", 2), {"override_reason": reason})
    assert confirm.status_code == 200
    assert "Start Batch 2 with an override?" in page_text(confirm)
    assert journey.batch(2).state == BatchState.PLANNED
    done = rm.post(move_url("start", 2), {"override_reason": reason, "confirmed": "yes"})
    assert done.status_code == 302
    assert journey.batch(2).state == BatchState.IN_PROGRESS
    second = page_text(rm.get(reverse("pages:batch", kwargs={"slug": SLUG, "number": 2})))
    assert "Started with an override</strong> by rita on" in second
    assert reason in second
    first = page_text(rm.get(page_urls()["batch"]))
    assert "Batch 2 was started before this batch passed</strong>, by rita's override" in first
    overview = page_text(rm.get(page_urls()["plan"]))
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
    assert '<button type="submit" class="button">Mark ready for review</button>' in page_text(after)


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


def test_linking_a_pr_that_changes_a_critical_path_shows_its_ai_review_gate(
    journey, release_manager, django_capture_on_commit_callbacks
):
    from batches.plan_settings import plan_configure
    from tests.journey import REPO, github_number, head_sha

    plan_configure(plan=journey.plan, by=release_manager, values={"critical_paths": ["backend/app/routers/**"]})
    pr = journey.batch(2).prs.get(number=4)  # the plan asks for no AI review of PR #4
    journey.fake.github_pr(REPO, github_number(pr), head_sha=head_sha(4), files=["backend/app/routers/x.py"])
    client = client_for(release_manager)
    with django_capture_on_commit_callbacks(execute=True):  # linking queues the PR's sync
        response = client.post(link_url(4, number=2), {"url": f"https://github.com/{REPO}/pull/{github_number(pr)}"})
    assert response.status_code == 302
    text = page_text(client.get(reverse("pages:batch", kwargs={"slug": SLUG, "number": 2})))
    gate = journey.batch(2).gates.get(origin="critical")
    assert [p.number for p in gate.prs.all()] == [4]
    row = text[text.index(f'id="gate-{gate.pk}"') :]
    assert "AI review of the PRs that change a critical path" in row
    assert "PRs #4" in row
    assert "Required by the critical-path rule: this PR changes a" in row
