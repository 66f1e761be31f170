"""Compute and store a batch's metrics (``metrics/formulas.py`` says what each number means).

Called when a batch is approved (``metrics/apps.py`` listens to
``batches.signals.batch_approved`` and queues :func:`batch_metrics_compute`
once the approval commits) and on demand (the metrics page's button for
release managers, ``manage.py recompute_metrics``).

Providers are read through their clients; a provider that cannot be read
leaves its numbers as "no data", marks the row stale and says why, and the
rest is still computed and stored. Nothing here can undo an approval: it runs
after the approval committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from batches.conditional_cache import DatabaseConditionalStore
from batches.models import Batch, BatchState, GateEvent, GateEventAction, Plan
from metrics import formulas
from metrics.models import BatchMetrics
from providers.github import Commit, GitHubClient
from providers.http import ProviderError
from providers.render import Deploy, RenderClient
from providers.sentry import Issue, SentryClient

logger = logging.getLogger(__name__)

# Render answers at most 100 deploys a page; the newest 100 cover a batch's weeks.
RENDER_DEPLOYS_LIMIT = 100


class MetricsRefused(Exception):
    """Metrics were not computed; ``str()`` says why, for people."""


@dataclass
class _Reading:
    notes: list[str] = field(default_factory=list)
    stale: bool = False

    def failed(self, provider: str, error: Exception) -> None:
        self.stale = True
        self.notes.append(f"{provider} could not be read ({error}); its numbers are missing until a recompute.")


def escape_window() -> timedelta:
    return timedelta(days=settings.METRICS_ESCAPE_WINDOW_DAYS)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _github(batch: Batch, reading: _Reading) -> tuple[list[dict], list[Commit], datetime | None]:
    """Per-PR rows, every commit of the batch's PRs, and the last merge time (None unless every linked PR merged)."""
    plan = batch.plan
    linked = [pr for pr in batch.prs.all() if pr.is_linked]
    rows: list[dict] = []
    commits: list[Commit] = []
    if not linked:
        reading.notes.append("No linked PRs: no PR cycle time, findings or deploy.")
        return rows, commits, None
    bot = plan.ai_reviewer_bot_login.strip()
    if not bot:
        reading.notes.append("No AI reviewer bot login in the plan settings: no findings.")
    merges: list[datetime | None] = []
    try:
        with GitHubClient(store=DatabaseConditionalStore()) as github:
            for pr in linked:
                repo, number = pr.github_repository, pr.github_number
                assert number is not None
                pull = github.get_pull(repo, number)
                pr_commits = github.list_pull_commits(repo, number)
                blocking = non_blocking = None
                if bot:
                    reviews = github.list_reviews(repo, number)
                    comments = github.list_review_comments(repo, number)
                    blocking, non_blocking = formulas.ai_findings(reviews, comments, bot)
                commits.extend(pr_commits)
                merges.append(pull.merged_at)
                rows.append(
                    {
                        "number": pr.number,
                        "github_number": number,
                        "url": pr.github_url,
                        "opened_at": _iso(pull.created_at),
                        "merged_at": _iso(pull.merged_at),
                        "cycle_seconds": formulas.pr_cycle_time(pull.created_at, pull.merged_at),
                        "findings_blocking": blocking,
                        "findings_non_blocking": non_blocking,
                    }
                )
    except ProviderError as error:
        reading.failed("GitHub", error)
        return [], [], None
    last_merge = max(m for m in merges if m is not None) if all(merges) else None
    if last_merge is None:
        reading.notes.append("Not every linked PR is merged: no deploy for the batch yet.")
    return rows, commits, last_merge


def _render(plan: Plan, reading: _Reading) -> list[Deploy] | None:
    if not plan.has_render_services:
        reading.notes.append("No Render services in the plan settings: no deploy data.")
        return None
    deploys: list[Deploy] = []
    try:
        with RenderClient() as render:
            for service in plan.render_service_ids:
                if isinstance(service, str) and service.strip():
                    deploys.extend(render.list_deploys(service.strip(), limit=RENDER_DEPLOYS_LIMIT))
    except ProviderError as error:
        reading.failed("Render", error)
        return None
    return deploys


def _sentry(plan: Plan, deployed_at: datetime, now: datetime, reading: _Reading) -> list[Issue] | None:
    if not plan.has_sentry_project:
        reading.notes.append("No Sentry project in the plan settings: no escaped-defect data.")
        return None
    end = min(deployed_at + escape_window(), now)
    try:
        with SentryClient() as sentry:
            return sentry.issues_first_seen_between(
                organization=plan.sentry_organization.strip(),
                project=plan.sentry_project.strip(),
                environment=plan.sentry_environment.strip(),
                start=deployed_at,
                end=end,
            )
    except ProviderError as error:
        reading.failed("Sentry", error)
        return None


def _gate_flips(batch: Batch) -> list[dict]:
    events = GateEvent.objects.filter(gate__batch=batch, action=GateEventAction.STATE_CHANGED).order_by(
        "gate__position", "created_at", "pk"
    )
    transitions: dict[int, list[tuple[str, str]]] = {}
    for event in events:
        transitions.setdefault(event.gate_id, []).append((event.previous_state, event.state))
    return [
        {"gate": gate.label, "kind": gate.kind, "flips": formulas.gate_flips(transitions.get(gate.pk, []))}
        for gate in batch.gates.all()
    ]


def batch_metrics_compute(*, batch: Batch, now: datetime | None = None) -> BatchMetrics:
    """Compute ``batch``'s metrics from its lifecycle, GateEvent and the providers, and store them (one row per batch).

    Only an approved batch has metrics: raises :class:`MetricsRefused` for
    any other. A provider error leaves that provider's numbers as no data.
    """
    batch = Batch.objects.select_related("plan").prefetch_related("prs", "gates").get(pk=batch.pk)
    if batch.state != BatchState.APPROVED:
        raise MetricsRefused(f"Batch {batch.number} is not approved yet; its metrics are computed when it is.")
    now = now or timezone.now()
    plan = batch.plan
    reading = _Reading()
    window = escape_window()

    start_to_ready, ready_to_approved, start_to_approved = formulas.batch_cycle_time(
        batch.started_at, batch.ready_at, batch.approved_at
    )
    prs, commits, last_merge = _github(batch, reading)
    deploys = _render(plan, reading)
    live_count, per_week = (
        formulas.deployment_frequency(deploys, batch.started_at, batch.approved_at)
        if deploys is not None
        else (None, None)
    )
    deploy = formulas.batch_deploy(deploys or [], last_merge)
    deployed_at = (deploy.finished_at or deploy.created_at) if deploy else None
    if deploys is not None and last_merge is not None and deploy is None:
        reading.notes.append("No deploy went live on Render after the batch's last merge yet.")
    issues = _sentry(plan, deployed_at, now, reading) if deployed_at else None
    escapes = formulas.escaped_defects(issues, deployed_at, window) if issues is not None else None
    flips = _gate_flips(batch)

    values = {
        "computed_at": now,
        "start_to_ready_seconds": start_to_ready,
        "ready_to_approved_seconds": ready_to_approved,
        "start_to_approved_seconds": start_to_approved,
        "prs": prs,
        "pr_cycle_median_seconds": _int(formulas.median(p["cycle_seconds"] for p in prs)),
        "ai_findings_blocking": _sum(p["findings_blocking"] for p in prs),
        "ai_findings_non_blocking": _sum(p["findings_non_blocking"] for p in prs),
        "deployed_at": deployed_at,
        "live_deploys": live_count,
        "deploys_per_week": per_week,
        "rollback": formulas.rolled_back(deploys, deployed_at, window) if deploys is not None else None,
        "lead_time_seconds": formulas.lead_time(commits, deployed_at),
        "escape_window_days": window.days,
        "escaped_defects": len(escapes) if escapes is not None else None,
        "restore_seconds": formulas.time_to_restore(escapes) if escapes is not None else None,
        "gate_flips": flips,
        "gate_flips_total": sum(f["flips"] for f in flips),
        "notes": reading.notes,
        "stale": reading.stale,
    }
    with transaction.atomic():
        row, _ = BatchMetrics.objects.update_or_create(batch=batch, defaults=values)
    return row


def _int(value: float | None) -> int | None:
    return int(value) if value is not None else None


def _sum(values) -> int | None:
    """The sum, or None (no data) when no value is known: no PRs, or no findings read."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def metrics_due() -> list[Batch]:
    """Approved batches whose stored metrics may still change on their own, oldest first.

    Those with no row yet (approved before metrics existed, or the computation
    after approval failed), a stale row (a provider could not be read), or an
    escape window still open when the row was computed: Sentry may since have
    seen an issue that counts.
    """
    window = escape_window()
    due = []
    for batch in Batch.objects.filter(state=BatchState.APPROVED).select_related("metrics").order_by("approved_at"):
        row: BatchMetrics | None = getattr(batch, "metrics", None)
        if row is None or row.stale or (row.deployed_at is not None and row.computed_at < row.deployed_at + window):
            due.append(batch)
    return due


def metrics_periodic(*, now: datetime | None = None) -> int:
    """Recompute every batch :func:`metrics_due` names (beat runs this hourly); returns how many."""
    due = metrics_due()
    for batch in due:
        batch_metrics_compute(batch=batch, now=now)
    return len(due)


def plan_metrics_recompute(*, plan: Plan, now: datetime | None = None) -> int:
    """Recompute the metrics of every approved batch of ``plan``; returns how many batches were computed."""
    count = 0
    for batch in plan.batches.filter(state=BatchState.APPROVED).order_by("number"):
        batch_metrics_compute(batch=batch, now=now)
        count += 1
    return count
