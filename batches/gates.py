"""Gate rules: what each automated gate's state is, given what the providers say.

One function per gate kind reads typed provider data (never raw JSON) through
a :class:`Providers` bundle and returns an :class:`Outcome`. The functions do
not write; :func:`gate_evaluate` stores the outcome, or on a provider error
marks the gate stale (an error can never make a gate pass).

A gate whose mapping or credentials are missing raises :class:`NeedsConfig`
with a sentence saying exactly what to set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase

from django.conf import settings
from django.utils import timezone

from batches.conditional_cache import DatabaseConditionalStore
from batches.models import Gate, GateEvent, GateEventAction, GateKind, GateScope, GateState, PlannedPR
from batches.polling import CacheRateLimitLedger
from batches.signals import gate_state_changed
from providers.github import CheckRun, CommitStatus, GitHubClient, Review
from providers.http import ProviderError
from providers.render import FAILED, IN_PROGRESS, LIVE, Deploy, RenderClient
from providers.sentry import Issue, SentryClient

# Worst first: how per-PR or per-service states combine into one gate state.
_SEVERITY: list[str] = [GateState.FAILING, GateState.REVIEWER_UNAVAILABLE, GateState.PENDING, GateState.PASSING]
_SEVERITY_RANK = {state: rank for rank, state in enumerate(_SEVERITY)}

CHECK_PASSING = frozenset({"success", "neutral", "skipped"})  # as GitHub's branch protection reads them
CHECK_FAILING = frozenset({"failure", "timed_out", "cancelled", "action_required", "error"})
STATUS_FAILING = frozenset({"failure", "error"})

# What AI reviewers write when they could not review (rate limited, overloaded,
# down). Their check then fails for a reason that says nothing about the code.
REVIEWER_UNAVAILABLE_WORDS = re.compile(
    r"rate[- ]?limit|unavailable|overloaded|quota|capacity|try again later|temporarily|service (?:is )?down",
    re.IGNORECASE,
)


class NeedsConfig(Exception):
    """A gate cannot be evaluated until someone sets what ``str()`` names."""


@dataclass
class Outcome:
    state: str
    detail: str
    detail_url: str = ""
    source: str = ""


@dataclass
class Providers:
    """Clients for one sync pass, created on first use, with per-pass memos.

    The memos matter for the rate limit: the CI and AI-review gates read the
    same check runs, so one pass asks GitHub once.
    """

    github: GitHubClient | None = None
    render: RenderClient | None = None
    sentry: SentryClient | None = None
    _memo: dict = field(default_factory=dict)

    def gh(self) -> GitHubClient:
        if self.github is None:
            # Conditional GETs against the shared database: an idle pass costs GitHub's rate limit nothing.
            # The rate-limit headers of every answer go to the shared ledger the poller paces on.
            self.github = GitHubClient(store=DatabaseConditionalStore(), ledger=CacheRateLimitLedger())
        return self.github

    def rd(self) -> RenderClient:
        if self.render is None:
            self.render = RenderClient()
        return self.render

    def se(self) -> SentryClient:
        if self.sentry is None:
            self.sentry = SentryClient()
        return self.sentry

    def remember(self, key: tuple, load):
        if key not in self._memo:
            try:
                self._memo[key] = load()
            except ProviderError as exc:
                # Remember failures too: a second gate asking the same question gets
                # the same answer in this pass instead of hitting a struggling provider again.
                self._memo[key] = exc
        value = self._memo[key]
        if isinstance(value, ProviderError):
            raise value
        return value

    def check_runs(self, repo: str, sha: str) -> list[CheckRun]:
        return self.remember(("runs", repo, sha), lambda: self.gh().list_check_runs(repo, sha))

    def statuses(self, repo: str, sha: str) -> list[CommitStatus]:
        return self.remember(("statuses", repo, sha), lambda: self.gh().list_statuses(repo, sha))

    def reviews(self, repo: str, number: int) -> list[Review]:
        return self.remember(("reviews", repo, number), lambda: self.gh().list_reviews(repo, number))

    def latest_deploy(self, service_id: str) -> Deploy | None:
        return self.remember(("deploy", service_id), lambda: self.rd().latest_deploy(service_id))

    def close(self) -> None:
        for client in (self.github, self.render, self.sentry):
            if client is not None:
                client.close()

    def __enter__(self) -> Providers:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


# -- storing -----------------------------------------------------------------------


def gate_store(*, gate: Gate, outcome: Outcome) -> bool:
    """Record ``outcome`` on ``gate``, appending a GateEvent when the state changes. True when it changed."""
    previous = gate.state
    gate.lift_waiver_if_failing(state=outcome.state)
    changed = gate.record_result(
        state=outcome.state, detail=outcome.detail[:5000], detail_url=outcome.detail_url[:500], source=outcome.source
    )
    if changed:
        event = GateEvent.objects.create(
            gate=gate,
            action=GateEventAction.STATE_CHANGED,
            state=outcome.state,
            previous_state=previous,
            detail=outcome.detail[:5000],
        )
        gate_state_changed.send_robust(sender=Gate, gate=gate, event=event)
    return changed


def gate_store_error(*, gate: Gate, error: ProviderError | str) -> bool:
    """Mark ``gate`` stale with the error shown; it keeps its last known state. True when it changed."""
    previous = gate.state
    gate.record_error(error=str(error))
    if previous != GateState.STALE:
        GateEvent.objects.create(
            gate=gate,
            action=GateEventAction.STATE_CHANGED,
            state=GateState.STALE,
            previous_state=previous,
            detail=str(error),
        )
        return True
    return False


def gate_evaluate(*, gate: Gate, providers: Providers) -> bool:
    """Evaluate one automated gate and store the result. Provider errors propagate after marking it stale."""
    try:
        outcome = RULES[gate.kind](gate, providers)
    except NeedsConfig as exc:
        outcome = Outcome(state=GateState.NEEDS_CONFIG, detail=str(exc))
    except ProviderError as exc:
        gate_store_error(gate=gate, error=exc)
        raise
    return gate_store(gate=gate, outcome=outcome)


# -- configuration -----------------------------------------------------------------


def pr_repository(pr: PlannedPR) -> str:
    return pr.github_repository or pr.batch.plan.github_repository


def scope_prs(gate: Gate) -> list[PlannedPR]:
    prs = gate.prs.all() if gate.scope == GateScope.PRS else gate.batch.prs.all()
    return sorted(prs, key=lambda pr: pr.number)


def _require_github(gate: Gate) -> None:
    if not settings.GITHUB_TOKEN:
        raise NeedsConfig("Set GITHUB_TOKEN in the environment.")


def _linked_prs(gate: Gate) -> list[PlannedPR]:
    prs = scope_prs(gate)
    if not prs:
        raise NeedsConfig("This gate covers no planned PRs; check the plan.")
    unlinked = [pr for pr in prs if not pr.github_number]
    if unlinked:
        names = ", ".join(f"#{pr.number}" for pr in unlinked)
        raise NeedsConfig(f"Link planned PR {names} to {'its' if len(unlinked) == 1 else 'their'} GitHub pull request.")
    no_repo = [pr for pr in prs if not pr_repository(pr)]
    if no_repo:
        raise NeedsConfig("Set the GitHub repository for this plan in the admin.")
    return prs


def _unsynced(pr: PlannedPR) -> tuple[str, str, str] | None:
    # Not read from GitHub yet (a webhook's targeted sync reads only its own PRs):
    # unknown, so pending; a known failure on another PR still fails the gate.
    if pr.head_sha:
        return None
    return (GateState.PENDING, f"PR #{pr.number}: not read from GitHub yet", pr.github_url)


def _combine(states: list[str]) -> str:
    return min(states, key=_SEVERITY_RANK.__getitem__) if states else GateState.PENDING


def _first_url(items: Sequence[tuple[str, str, str]], state: str) -> str:
    return next((url for s, _, url in items if s == state and url), "")


def _outcome(per_item: Sequence[tuple[str, str, str]], source: str) -> Outcome:
    """Combine (state, sentence, url) per PR or service into one outcome."""
    state = _combine([s for s, _, _ in per_item])
    url = _first_url(per_item, state) or next((u for _, _, u in per_item if u), "")
    return Outcome(state=state, detail="; ".join(text for _, text, _ in per_item), detail_url=url, source=source)


# -- ci -----------------------------------------------------------------------------


def _run_state(run: CheckRun) -> str:
    if run.status != "completed":
        return GateState.PENDING
    if run.conclusion in CHECK_PASSING:
        return GateState.PASSING
    if run.conclusion in CHECK_FAILING:
        return GateState.FAILING
    return GateState.PENDING  # stale or no conclusion yet


def _status_state(status: CommitStatus) -> str:
    if status.state == "success":
        return GateState.PASSING
    if status.state in STATUS_FAILING:
        return GateState.FAILING
    return GateState.PENDING


def evaluate_ci(gate: Gate, providers: Providers) -> Outcome:
    _require_github(gate)
    pattern = gate.check_name.strip()
    if not pattern:
        raise NeedsConfig("Set the CI check name for this gate in the admin.")
    per_pr = []
    for pr in _linked_prs(gate):
        if unknown := _unsynced(pr):
            per_pr.append(unknown)
            continue
        repo = pr_repository(pr)
        found: list[tuple[str, str, str]] = []
        for run in providers.check_runs(repo, pr.head_sha):
            if fnmatchcase(run.name, pattern):
                found.append((_run_state(run), f"{run.name} {run.conclusion or run.status}", run.html_url))
        for status in providers.statuses(repo, pr.head_sha):
            if fnmatchcase(status.context, pattern):
                found.append((_status_state(status), f"{status.context} {status.state}", status.target_url))
        if not found:
            per_pr.append((GateState.PENDING, f"PR #{pr.number}: no check “{pattern}” yet", pr.github_url))
            continue
        state = _combine([s for s, _, _ in found])
        url = _first_url(found, state)
        per_pr.append((state, f"PR #{pr.number}: " + ", ".join(text for _, text, _ in found), url))
    return _outcome(per_pr, source=f"GitHub checks ({pr_repository(scope_prs(gate)[0])})")


# -- ai_review ---------------------------------------------------------------------


def _says_unavailable(*texts: str) -> bool:
    return any(REVIEWER_UNAVAILABLE_WORDS.search(text or "") for text in texts)


def _ai_verdicts(pr: PlannedPR, plan, providers: Providers) -> tuple[list[tuple[datetime, str, str, str]], bool]:
    """Every verdict the AI reviewer gave on ``pr`` as (when, state, sentence, url), and whether one is running."""
    repo = pr_repository(pr)
    verdicts: list[tuple[datetime, str, str, str]] = []
    running = False
    epoch = datetime.min.replace(tzinfo=UTC)
    name = plan.ai_reviewer_check_name.strip()
    if name:
        for run in providers.check_runs(repo, pr.head_sha):
            if not fnmatchcase(run.name, name):
                continue
            if run.status != "completed":
                running = True
                continue
            when = run.completed_at or epoch
            if run.conclusion in CHECK_PASSING:
                verdicts.append((when, GateState.PASSING, f"{run.name} {run.conclusion}", run.html_url))
            elif run.conclusion == "timed_out" or _says_unavailable(
                run.output_title, run.output_summary, run.output_text
            ):
                verdicts.append(
                    (
                        when,
                        GateState.REVIEWER_UNAVAILABLE,
                        f"{run.name} could not review ({run.output_title or run.conclusion})",
                        run.html_url,
                    )
                )
            elif run.conclusion in CHECK_FAILING:
                verdicts.append((when, GateState.FAILING, f"{run.name} {run.conclusion}", run.html_url))
        for status in providers.statuses(repo, pr.head_sha):
            if not fnmatchcase(status.context, name):
                continue
            when = status.updated_at or epoch
            if status.state == "pending":
                running = True
            elif status.state == "success":
                verdicts.append((when, GateState.PASSING, f"{status.context} success", status.target_url))
            elif _says_unavailable(status.description):
                verdicts.append(
                    (
                        when,
                        GateState.REVIEWER_UNAVAILABLE,
                        f"{status.context} could not review ({status.description})",
                        status.target_url,
                    )
                )
            else:
                verdicts.append((when, GateState.FAILING, f"{status.context} {status.state}", status.target_url))
    bot = plan.ai_reviewer_bot_login.strip().lower()
    if bot and pr.github_number is not None:
        for review in providers.reviews(repo, pr.github_number):
            if review.user_login.lower() != bot:
                continue
            when = review.submitted_at or epoch
            if review.state == "CHANGES_REQUESTED":
                # Findings stand until a newer review or check supersedes them, whatever commit they were on.
                verdicts.append((when, GateState.FAILING, f"{review.user_login} requested changes", review.html_url))
            elif review.state == "APPROVED" and review.commit_id == pr.head_sha:
                verdicts.append((when, GateState.PASSING, f"{review.user_login} approved", review.html_url))
            elif review.state == "DISMISSED":
                verdicts.append(
                    (when, GateState.PENDING, f"{review.user_login}'s review was dismissed", review.html_url)
                )
    return verdicts, running


def evaluate_ai_review(gate: Gate, providers: Providers) -> Outcome:
    _require_github(gate)
    plan = gate.batch.plan
    if not (plan.ai_reviewer_check_name.strip() or plan.ai_reviewer_bot_login.strip()):
        raise NeedsConfig("Set the AI reviewer's check name or bot login for this plan in the admin.")
    timeout = timedelta(minutes=plan.ai_review_timeout_minutes)
    now = timezone.now()
    per_pr = []
    for pr in _linked_prs(gate):
        if unknown := _unsynced(pr):
            per_pr.append(unknown)
            continue
        verdicts, running = _ai_verdicts(pr, plan, providers)
        if verdicts:
            _, state, text, url = max(verdicts, key=lambda v: v[0])
            per_pr.append((state, f"PR #{pr.number}: {text}", url))
        elif pr.head_committed_at and now - pr.head_committed_at > timeout:
            per_pr.append(
                (
                    GateState.REVIEWER_UNAVAILABLE,
                    f"PR #{pr.number}: no AI review within {plan.ai_review_timeout_minutes} minutes of the head commit",
                    pr.github_url,
                )
            )
        else:
            text = "AI review running" if running else "waiting for the AI review"
            per_pr.append((GateState.PENDING, f"PR #{pr.number}: {text}", pr.github_url))
    return _outcome(per_pr, source="GitHub AI review")


# -- deploy ------------------------------------------------------------------------


def _require_render(gate: Gate) -> list[str]:
    services = [s for s in (gate.batch.plan.render_service_ids or []) if isinstance(s, str) and s.strip()]
    if not services:
        raise NeedsConfig("Set the Render service id(s) for this plan in the admin.")
    if not settings.RENDER_API_KEY:
        raise NeedsConfig("Set RENDER_API_KEY in the environment.")
    return services


def _deploy_contains(deploy: Deploy, merged: list[PlannedPR], providers: Providers) -> list[PlannedPR]:
    """The merged PRs the deploy's commit does not contain (yet)."""
    missing = []
    for pr in merged:
        if not pr.merge_commit_sha or pr.merge_commit_sha == deploy.commit_sha:
            continue
        if not settings.GITHUB_TOKEN:
            raise NeedsConfig("Set GITHUB_TOKEN in the environment (needed to check the deploy contains the PRs).")
        comparison = providers.remember(
            ("compare", pr_repository(pr), pr.merge_commit_sha, deploy.commit_sha),
            lambda pr=pr: providers.gh().compare(pr_repository(pr), pr.merge_commit_sha, deploy.commit_sha),
        )
        if not comparison.head_contains_base:
            missing.append(pr)
    return missing


def evaluate_deploy(gate: Gate, providers: Providers) -> Outcome:
    services = _require_render(gate)
    prs = list(gate.batch.prs.all())
    waiting = [pr for pr in prs if not pr.is_merged]
    merged = [pr for pr in prs if pr.github_number and pr.is_merged]
    per_service = []
    for service in services:
        deploy = providers.latest_deploy(service)
        if deploy is None:
            per_service.append((GateState.PENDING, f"{service}: no deploys yet", ""))
            continue
        label = f"{service}: deploy {deploy.id} {deploy.status}"
        if deploy.commit_sha:
            label += f" at {deploy.commit_sha[:7]}"
        if deploy.status in FAILED:
            per_service.append((GateState.FAILING, label, ""))
        elif deploy.status in IN_PROGRESS:
            per_service.append((GateState.PENDING, label, ""))
        elif deploy.status == LIVE:
            if merged and not deploy.commit_sha:
                per_service.append((GateState.PENDING, f"{label}; an image deploy cannot show it contains the PRs", ""))
                continue
            missing = _deploy_contains(deploy, merged, providers)
            if missing:
                names = ", ".join(f"#{pr.number}" for pr in missing)
                per_service.append((GateState.PENDING, f"{label}, which does not contain merged PR {names} yet", ""))
            else:
                per_service.append((GateState.PASSING, label, ""))
        else:
            per_service.append((GateState.PENDING, label, ""))
    outcome = _outcome(per_service, source="Render deploys")
    if waiting:
        # Render is read all the same (an outage shows as stale), but a deploy from
        # before the batch's work merged says nothing about the batch.
        names = ", ".join(f"#{pr.number}" for pr in waiting)
        return Outcome(
            state=GateState.PENDING,
            detail=f"Waiting for planned PR {names} to merge and deploy. Latest: {outcome.detail}",
            source=outcome.source,
        )
    return outcome


def _live_since(gate: Gate, providers: Providers) -> datetime | None:
    """When the newest live deploy of the plan's services finished."""
    times: list[datetime] = []
    for service in _require_render(gate):
        deploy = providers.latest_deploy(service)
        if deploy is not None and deploy.status == LIVE:
            when = deploy.finished_at or deploy.created_at
            if when is not None:
                times.append(when)
    return max(times) if times else None


# -- observability -----------------------------------------------------------------


def evaluate_observability(gate: Gate, providers: Providers) -> Outcome:
    plan = gate.batch.plan
    if not (plan.sentry_organization.strip() and plan.sentry_project.strip()):
        raise NeedsConfig("Set the Sentry organisation and project for this plan in the admin.")
    if not settings.SENTRY_AUTH_TOKEN:
        raise NeedsConfig("Set SENTRY_AUTH_TOKEN in the environment.")
    deploy = evaluate_deploy(gate, providers)
    since = _live_since(gate, providers)
    if since is None:
        return Outcome(state=GateState.PENDING, detail="No live deploy yet to watch for new errors.", source="Sentry")
    # Sentry is read even before the batch's own deploy, so an outage shows as stale.
    issues: list[Issue] = providers.se().unresolved_issues_since(
        organization=plan.sentry_organization.strip(),
        project=plan.sentry_project.strip(),
        environment=plan.sentry_environment.strip(),
        since=since,
    )
    where = f"{plan.sentry_project}" + (f" ({plan.sentry_environment})" if plan.sentry_environment else "")
    when = since.strftime("%Y-%m-%d %H:%M UTC")
    if deploy.state != GateState.PASSING:
        seen = f"{len(issues)} new unresolved issue{'s' if len(issues) != 1 else ''}" if issues else "no new issues"
        return Outcome(
            state=GateState.PENDING,
            detail=f"Waiting for the batch's deploy ({deploy.detail}). Meanwhile {where} has {seen} since {when}.",
            source="Sentry",
        )
    if not issues:
        return Outcome(
            state=GateState.PASSING, detail=f"No new unresolved issues in {where} since {when}.", source="Sentry"
        )
    listed = "; ".join(f"{i.short_id or i.id} {i.title} {i.permalink}".strip() for i in issues[:10])
    more = f" and {len(issues) - 10} more" if len(issues) > 10 else ""
    count = f"{len(issues)} new unresolved issue{'s' if len(issues) != 1 else ''}"
    return Outcome(
        state=GateState.FAILING,
        detail=f"{count} in {where} since {when}: {listed}{more}",
        detail_url=issues[0].permalink,
        source="Sentry",
    )


# -- docs --------------------------------------------------------------------------


def evaluate_docs(gate: Gate, providers: Providers) -> Outcome:
    wanted = [f.strip().lstrip("./") for f in gate.doc_files or [] if isinstance(f, str) and f.strip()]
    if not wanted:
        raise NeedsConfig("List the documentation files for this gate in the admin.")
    _require_github(gate)
    prs = _linked_prs(gate)
    merged = [pr for pr in prs if pr.is_merged]
    changed = {name for pr in merged for name in pr.changed_files or []}
    missing = [name for name in wanted if name not in changed]
    source = "GitHub PR files"
    if not missing:
        return Outcome(state=GateState.PASSING, detail=f"Merged PRs changed {', '.join(wanted)}.", source=source)
    state = GateState.FAILING if len(merged) == len(prs) else GateState.PENDING
    return Outcome(
        state=state,
        detail=f"Not changed by a merged PR{' yet' if state == GateState.PENDING else ''}: {', '.join(missing)}.",
        source=source,
    )


RULES: dict[str, Callable[[Gate, Providers], Outcome]] = {
    GateKind.CI: evaluate_ci,
    GateKind.AI_REVIEW: evaluate_ai_review,
    GateKind.DEPLOY: evaluate_deploy,
    GateKind.OBSERVABILITY: evaluate_observability,
    GateKind.DOCS: evaluate_docs,
}
# Gates whose answer comes from the batch's pull requests: a webhook about a PR re-evaluates these.
PR_DRIVEN_KINDS = (GateKind.CI, GateKind.AI_REVIEW, GateKind.DOCS, GateKind.DEPLOY)
