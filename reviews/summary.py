"""The batch's summary comment: drafted from its own data, edited by a release manager, posted to its PRs.

The draft is deterministic (the same batch gives the same text), built only
from what Gatehouse recorded: goals, PRs and their merge state, each gate with
its state, source and waiver, who signed what with which evidence, cycle time,
and the review. No LLM is involved.

Posting never comments twice on a pull request: each comment posted is
recorded (:class:`~reviews.models.SummaryComment`), and before creating one
the PR's comments are read for the hidden marker, so a comment whose answer
was lost (a timeout, a 502 after GitHub stored it) is found and recorded
instead of posted again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Prefetch

from batches.models import Batch, Gate, GateKind, PlannedPR
from portal.roles import Actor
from providers.github import GitHubClient
from providers.http import ProviderError
from reviews.history import SessionView, sessions_for
from reviews.models import ReleaseCheckItem, SummaryComment
from reviews.services import checklist_items_for
from signoffs.itemstate import item_state
from signoffs.models import ChecklistItem, Evidence, SignOff

BODY_MAX_LENGTH = 60_000  # GitHub refuses comment bodies over 65,536 characters


class SummaryError(Exception):
    """The summary cannot be posted as it is. ``str()`` is for people."""


def summary_marker(batch: Batch) -> str:
    """The hidden line that identifies this batch's summary among a PR's comments."""
    return f"<!-- gatehouse-summary batch={batch.plan.slug}/{batch.number} -->"


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def duration(span: timedelta) -> str:
    """``2 d 3 h 5 min``; whole minutes, at least “under a minute”."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{mins} min" if mins else ""]
    return " ".join(p for p in parts if p)


def _who(user) -> str:
    return user.get_username() if user is not None else "Gatehouse"


def _pr_state(pr: PlannedPR) -> str:
    if not pr.is_linked:
        return "not linked to GitHub"
    if pr.is_merged:
        return f"merged {_when(pr.merged_at)}"
    if pr.draft:
        return "draft"
    return pr.github_state or "not synced yet"


@dataclass
class SummaryData:
    batch: Batch
    prs: list[PlannedPR]
    sessions: list[SessionView]
    checklist: list[ReleaseCheckItem]
    posted: list[SummaryComment] = field(default_factory=list)


def summary_data(batch: Batch) -> SummaryData:
    """Everything the draft reads, in a fixed number of queries."""
    items = ChecklistItem.objects.order_by("position", "pk").prefetch_related(
        Prefetch("events", queryset=SignOff.objects.select_related("user").order_by("sequence")),
        Prefetch("evidence", queryset=Evidence.objects.order_by("uploaded_at", "pk")),
    )
    gates = (
        Gate.objects.select_related("waived_by")
        .order_by("position", "pk")
        .prefetch_related(Prefetch("items", queryset=items))
    )
    full = Batch.objects.select_related("plan").prefetch_related(Prefetch("gates", queryset=gates)).get(pk=batch.pk)
    return SummaryData(
        batch=full,
        prs=list(full.prs.order_by("number")),
        sessions=sessions_for([full.pk]).get(full.pk, []),
        checklist=checklist_items_for(full),
        posted=list(SummaryComment.objects.filter(batch=full).select_related("pr", "posted_by")),
    )


def summary_draft(data: SummaryData) -> str:
    """The summary as Markdown for a GitHub comment (without the marker, which posting adds)."""
    batch = data.batch
    lines = [
        f"## Gatehouse · Batch {batch.number} – {batch.title}",
        "",
        f"**Plan:** {batch.plan.title} · **State:** {batch.get_state_display()}",
        "",
        "### Goals",
        "",
    ]
    lines += [f"- {goal}" for goal in batch.goals] or ["- The plan lists no goals."]
    lines += ["", "### Pull requests", ""]
    for pr in data.prs:
        where = f" ({pr.github_repository}#{pr.github_number})" if pr.is_linked else ""
        lines.append(f"- PR #{pr.number}{where}: {_pr_state(pr)}")
    if not data.prs:
        lines.append("- The plan names no pull requests for this batch.")
    lines += ["", "### Readiness gates", ""]
    gates = list(batch.gates.all())
    for gate in gates:
        line = f"- {gate.get_kind_display()} “{gate.label}”: **{gate.get_status_display().lower()}**"
        if gate.source:
            line += f" (source: {gate.source})"
        if gate.is_waived:
            line += f"; waived by {_who(gate.waived_by)}: “{gate.waiver_reason}”"
        lines.append(line)
    if not gates:
        lines.append("- This batch has no gates.")
    lines += ["", "### Sign-offs", ""]
    signed = False
    for gate in gates:
        if gate.kind != GateKind.MANUAL:
            continue
        for item in gate.items.all():
            state = item_state(item)
            signed = True
            if state.ticked and state.state_event is not None:
                event = state.state_event
                line = f"- “{item.text}”: ticked by {_who(event.user)} at {_when(event.created_at)}"
                if event.note:
                    line += f" – “{event.note}”"
            else:
                line = f"- “{item.text}”: not ticked"
            files = [f"{ev.original_name} (SHA-256 {ev.original_sha256[:12]}…)" for ev in state.current_evidence]
            if files:
                line += "; evidence: " + ", ".join(files)
            lines.append(line)
    if not signed:
        lines.append("- This batch has no manual checklist.")
    lines += ["", "### Cycle time", ""]
    lines.append(_cycle_time(batch))
    lines += ["", "### Stakeholder review", ""]
    lines += _review_lines(data)
    return "\n".join(lines).rstrip() + "\n"


def _cycle_time(batch: Batch) -> str:
    if not batch.started_at:
        return "Not started yet."
    moves = [f"Started {_when(batch.started_at)}"]
    if batch.ready_at:
        moves.append(f"ready {_when(batch.ready_at)}")
    if not batch.approved_at:
        return "; ".join(moves) + "; not approved yet."
    moves.append(f"approved {_when(batch.approved_at)}")
    return "; ".join(moves) + f": {duration(batch.approved_at - batch.started_at)} from start to approval."


def _review_lines(data: SummaryData) -> list[str]:
    if not data.sessions:
        return ["No review held yet."]
    lines: list[str] = []
    *earlier, latest = data.sessions
    for view in earlier:
        decision = view.decision
        if decision is not None:
            lines.append(
                f"- Review {view.number} ({_when(view.session.opened_at)}): {decision.get_decision_display().lower()} "
                f"by {_who(decision.decided_by)}" + (f": “{decision.reason}”" if decision.reason else "")
            )
    if lines:
        lines.append("")
    attendees = ", ".join(a.name for a in latest.attendees) or "none recorded"
    lines += [f"Review {latest.number}, opened {_when(latest.session.opened_at)}. Attendees: {attendees}.", ""]
    for item in data.checklist:
        confirmation = latest.confirmations.get(item.pk)
        if confirmation:
            lines.append(f"- [x] {item.text} – confirmed by {confirmation.attendee.name}: “{confirmation.note}”")
        else:
            lines.append(f"- [ ] {item.text} – not confirmed")
    # Items confirmed under words the checklist no longer has (edited or removed since).
    current = {item.pk for item in data.checklist}
    for item_id, confirmation in latest.confirmations.items():
        if item_id not in current:
            lines.append(
                f"- [x] {confirmation.item_text} – confirmed by {confirmation.attendee.name}: “{confirmation.note}”"
            )
    if not data.checklist and not latest.confirmations:
        lines.append("- The plan has no release checklist.")
    lines.append("")
    decision = latest.decision
    if decision is None:
        lines.append("**Decision:** not decided yet.")
        return lines
    who = _who(decision.decided_by)
    line = f"**Decision:** {decision.get_decision_display()}, by {who} at {_when(decision.decided_at)}"
    lines.append(line + (f": “{decision.reason}”" if decision.reason else "."))
    if latest.follow_ups:
        lines += ["", "**Follow-ups:**", ""]
        lines += [f"- {f.text} – owner: {f.owner}" for f in latest.follow_ups]
    return lines


# -- posting ---------------------------------------------------------------------------


@dataclass
class PostResult:
    pr: PlannedPR
    outcome: str  # posted / found / already / skipped / failed
    url: str = ""
    error: str = ""


def summary_body(batch: Batch, text: str) -> str:
    """What is posted: the edited text with the marker as its last line (once)."""
    marker = summary_marker(batch)
    text = (text or "").replace(marker, "").strip()
    if not text:
        raise SummaryError("The summary is empty: write it (or keep the draft) before posting.")
    if len(text) > BODY_MAX_LENGTH:
        raise SummaryError(f"Keep the summary under {BODY_MAX_LENGTH:,} characters; GitHub refuses longer comments.")
    return f"{text}\n\n{marker}\n"


def summary_post(*, batch: Batch, text: str, by: Actor, client: GitHubClient | None = None) -> list[PostResult]:
    """Comment ``text`` on each linked PR of ``batch`` that has no summary yet; one result per PR.

    A PR that fails is reported and left for a retry; the others go ahead.
    The batch row is locked while posting, so two release managers clicking
    at once cannot both post: the second waits and then finds the records.
    """
    body = summary_body(batch, text)
    marker = summary_marker(batch)
    results: list[PostResult] = []
    own_client = client is None
    github = client or GitHubClient()
    try:
        with transaction.atomic():
            Batch.objects.select_for_update().get(pk=batch.pk)
            done = {c.pr_id: c for c in SummaryComment.objects.filter(batch=batch)}
            for pr in batch.prs.order_by("number"):
                if pr.pk in done:
                    results.append(PostResult(pr, "already", url=done[pr.pk].html_url))
                    continue
                if not pr.is_linked or pr.github_number is None:
                    results.append(PostResult(pr, "skipped", error="not linked to a GitHub pull request"))
                    continue
                results.append(_post_one(github, batch=batch, pr=pr, body=body, marker=marker, by=by))
    finally:
        if own_client:
            github.close()
    return results


def _post_one(github: GitHubClient, *, batch: Batch, pr: PlannedPR, body: str, marker: str, by: Actor) -> PostResult:
    assert pr.github_number is not None
    repo, number = pr.github_repository, pr.github_number
    try:
        existing = next((c for c in github.list_issue_comments(repo, number) if marker in c.body), None)
        comment = existing or github.create_issue_comment(repo, number, body)
    except ProviderError as exc:
        return PostResult(pr, "failed", error=str(exc))
    SummaryComment.objects.create(
        batch=batch,
        pr=pr,
        github_repository=repo,
        github_number=number,
        comment_id=comment.id,
        html_url=comment.html_url,
        body=comment.body,
        found_existing=existing is not None,
        posted_by=by,
    )
    return PostResult(pr, "found" if existing else "posted", url=comment.html_url)
