"""Every delivery metric Gatehouse reports, defined once, with its formula as the first paragraph of its docstring.

The functions are pure: they take typed provider data (``providers/``) and the
batch's own timestamps, and return a number, or None for "no data" (never
zero: a batch with no PRs has no findings count, not a count of zero).
:data:`METRICS` names each one for the pages, the CSV and the API; the page
shows the formula on hover, read from the docstring here.
"""

from __future__ import annotations

import inspect
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from providers.github import Commit, Review, ReviewComment
from providers.render import ROLLBACK, WENT_LIVE, Deploy
from providers.sentry import Issue

WEEK = timedelta(days=7)


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None or end < start:
        return None
    return int((end - start).total_seconds())


def median(values: Iterable[float | int | None]) -> float | None:
    """The median of the values that are not None; None when there are none."""
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


# -- cycle time ----------------------------------------------------------------------------------


def batch_cycle_time(
    started_at: datetime | None, ready_at: datetime | None, approved_at: datetime | None
) -> tuple[int | None, int | None, int | None]:
    """Batch cycle time = approved − started, split into ready − started and approved − ready (seconds).

    From the batch's own lifecycle moves. A part whose moves have not both
    happened yet is no data.
    """
    return _seconds(started_at, ready_at), _seconds(ready_at, approved_at), _seconds(started_at, approved_at)


def pr_cycle_time(opened_at: datetime | None, merged_at: datetime | None) -> int | None:
    """PR cycle time = merged − opened (seconds), per linked PR; no data while it is not merged.

    A PR closed and reopened keeps its first opening time; one closed without
    merging has no cycle time.
    """
    return _seconds(opened_at, merged_at)


# -- AI reviewer findings ---------------------------------------------------------------------------


def ai_findings(reviews: Sequence[Review], comments: Sequence[ReviewComment], bot_login: str) -> tuple[int, int]:
    """Findings by the AI reviewer's bot login on a PR: blocking = each change request (CHANGES_REQUESTED review)
    counts its inline comments, at least 1; non-blocking = the bot's other inline review comments.

    Returns (blocking, non_blocking). Reviews and comments by anyone else do
    not count; neither does an approval without comments.
    """
    login = bot_login.strip().lower()
    mine_reviews = [r for r in reviews if r.user_login.lower() == login]
    mine_comments = [c for c in comments if c.user_login.lower() == login]
    change_requests = {r.id for r in mine_reviews if r.state == "CHANGES_REQUESTED"}
    blocking = 0
    for review_id in change_requests:
        blocking += max(1, sum(1 for c in mine_comments if c.review_id == review_id))
    non_blocking = sum(1 for c in mine_comments if c.review_id not in change_requests)
    return blocking, non_blocking


# -- DORA: deployment frequency and lead time ----------------------------------------------------


def _deploy_time(deploy: Deploy) -> datetime | None:
    return deploy.finished_at or deploy.created_at


def batch_deploy(deploys: Iterable[Deploy], merged_at: datetime | None) -> Deploy | None:
    """The batch's deploy = the first Render deploy that went live (live, or later deactivated) at or after the batch's
    last PR merge.

    No merge (no PRs, or none merged) or no such deploy yet: no data.
    """
    if merged_at is None:
        return None
    live = [d for d in deploys if d.status in WENT_LIVE and (_deploy_time(d) or merged_at) >= merged_at]
    live = [d for d in live if _deploy_time(d) is not None]
    return min(live, key=lambda d: _deploy_time(d)) if live else None  # type: ignore[arg-type, return-value]


def deployment_frequency(
    deploys: Iterable[Deploy], start: datetime | None, end: datetime | None
) -> tuple[int | None, float | None]:
    """Deployment frequency = deploys that went live on Render between the batch's start and its approval ÷ weeks in
    between.

    Returns (count, per week). A window shorter than a day counts as a day, so
    one deploy on a same-day batch reads 7/week, not thousands.
    """
    if start is None or end is None or end < start:
        return None, None
    count = sum(
        1 for d in deploys if d.status in WENT_LIVE and (t := _deploy_time(d)) is not None and start <= t <= end
    )
    weeks = max(end - start, timedelta(days=1)) / WEEK
    return count, round(count / weeks, 2)


def lead_time(commits: Iterable[Commit], deployed_at: datetime | None) -> int | None:
    """Lead time for changes = the batch's deploy − the first commit of any of its PRs (seconds).

    No deploy yet, or no commits read: no data.
    """
    times = [c.committed_at for c in commits if c.committed_at is not None]
    if not times:
        return None
    return _seconds(min(times), deployed_at)


def rolled_back(deploys: Iterable[Deploy], deployed_at: datetime | None, window: timedelta) -> bool | None:
    """Rollback = a Render deploy triggered as a rollback within the window after the batch's deploy.

    No deploy: no data.
    """
    if deployed_at is None:
        return None
    end = deployed_at + window
    return any(d.trigger == ROLLBACK and (t := _deploy_time(d)) is not None and deployed_at < t <= end for d in deploys)


# -- escaped defects and time to restore ---------------------------------------------------------


def escaped_defects(issues: Iterable[Issue], deployed_at: datetime | None, window: timedelta) -> list[Issue] | None:
    """Escaped defects = Sentry issues of the plan's project first seen after the batch's deploy and within the window
    (default 7 days).

    An issue first seen before the deploy is not an escape. No deploy, or no
    Sentry project: no data.
    """
    if deployed_at is None:
        return None
    end = deployed_at + window
    return [i for i in issues if i.first_seen is not None and deployed_at < i.first_seen <= end]


def time_to_restore(issues: Iterable[Issue]) -> int | None:
    """Time to restore = median over the escaped Sentry issues now resolved of (resolved − first seen), seconds;
    "resolved" is the issue's last event, since Sentry's issue list gives no resolution time.

    No resolved escape: no data.
    """
    spans = [_seconds(i.first_seen, i.last_seen) for i in issues if i.status == "resolved"]
    value = median(spans)
    return int(value) if value is not None else None


def change_failure_rate(outcomes: Iterable[tuple[int | None, bool | None]]) -> float | None:
    """Change failure rate = batches with an escaped defect or a rollback ÷ batches with a deploy (0–1).

    ``outcomes`` are (escaped defects, rolled back) per batch; a batch with
    neither known (no deploy) is left out. No such batch: no data.
    """
    known = [(escaped, rollback) for escaped, rollback in outcomes if escaped is not None or rollback is not None]
    if not known:
        return None
    failed = sum(1 for escaped, rollback in known if (escaped or 0) > 0 or rollback)
    return round(failed / len(known), 3)


# -- gate flakiness ------------------------------------------------------------------------------

_DECISIVE = frozenset({"passing", "failing"})


def gate_flips(transitions: Iterable[tuple[str, str]]) -> int:
    """Gate flakiness = flips per gate: recorded state changes between passing and failing, either way (GateEvent).

    A gate going stale (its provider could not be read) or pending is not a
    flip; only a verdict turning over is.
    """
    return sum(1 for before, after in transitions if before in _DECISIVE and after in _DECISIVE and before != after)


# -- the catalogue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str  # "duration", "count", "rate", "per week"
    better: str  # "lower" or "higher": which way is an improvement
    formula: str


def _formula(function) -> str:
    doc = inspect.getdoc(function) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _metric(key: str, label: str, unit: str, better: str, function) -> Metric:
    return Metric(key=key, label=label, unit=unit, better=better, formula=_formula(function))


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        _metric("cycle_time", "Cycle time (started → approved)", "duration", "lower", batch_cycle_time),
        _metric("pr_cycle_time", "PR cycle time (median, opened → merged)", "duration", "lower", pr_cycle_time),
        _metric("ai_findings", "AI-reviewer findings", "count", "lower", ai_findings),
        _metric("escaped_defects", "Escaped defects", "count", "lower", escaped_defects),
        _metric("deployment_frequency", "Deployment frequency", "per week", "higher", deployment_frequency),
        _metric("lead_time", "Lead time for changes", "duration", "lower", lead_time),
        _metric("change_failure_rate", "Change failure rate", "rate", "lower", change_failure_rate),
        _metric("time_to_restore", "Time to restore", "duration", "lower", time_to_restore),
        _metric("rollback", "Rollback", "yes/no", "lower", rolled_back),
        _metric("deploy", "The batch's deploy", "time", "lower", batch_deploy),
        _metric("gate_flips", "Gate flakiness (flips)", "count", "lower", gate_flips),
    )
}
