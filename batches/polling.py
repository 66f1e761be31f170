"""Adaptive polling: which batches the periodic sync reads from GitHub this cycle, and when.

Webhooks carry the news; the periodic poll only reconciles, so at 1,000 tracked PRs
it must cost little. Every cycle (``GATE_SYNC_INTERVAL_SECONDS``):

- approved batches are never polled (:func:`batches.sync.active_batches` leaves them out);
- a batch that is *new* (a PR or gate never read, e.g. just linked) or *hot* (changed within
  ``GATE_SYNC_HOT_MINUTES``) is polled every cycle;
- *quiet* batches are polled once per ``GATE_SYNC_QUIET_MINUTES``, oldest poll first, a fair
  share per cycle, so they never all come due in the same minute;
- at most ``GATE_SYNC_MAX_PRS_PER_CYCLE`` PRs per cycle (new, then hot, then quiet), the rest
  waiting for the next cycle (still the oldest, so first);
- the chosen batches are queued with countdowns spread over the cycle, never in one burst;
- nothing is polled while GitHub's headers say to wait (``retry-after``, an exhausted limit)
  or fewer than ``GITHUB_RATE_LIMIT_RESERVE`` requests remain before the reset: the reserve
  is kept for webhooks and the people using the portal.

"Changed recently" is read from what the product already records, so no writer has to
remember to bump anything: the newest gate event, the PRs' head commit and merge times,
and the webhook deliveries that named the batch's PRs. "Last polled" is the oldest of the
linked PRs' ``last_synced_at`` and the automated gates' ``last_checked_at``.

The deciding functions (:func:`cycle_plan`, :func:`polling_pause`, :func:`spread`) are pure:
they take the activity and the time, and the tests call them directly.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone

from batches.models import Batch, Gate, GateEvent, GateKind, PlannedPR, WebhookDelivery
from providers.http import RateLimitStatus

logger = logging.getLogger(__name__)

NEW, HOT, QUIET = "new", "hot", "quiet"
# Quiet batches come due at a steady rate; each cycle may poll this much more than that
# rate, so a backlog (after a pause, or after startup when all were polled at once) drains.
QUIET_CATCH_UP = 1.5
# Countdowns cover this much of the cycle, so the last batch is read before the next cycle plans.
SPREAD_FRACTION = 0.8


@dataclass(frozen=True)
class PollPolicy:
    interval: timedelta
    hot: timedelta
    quiet: timedelta
    max_prs: int

    @classmethod
    def from_settings(cls) -> PollPolicy:
        return cls(
            interval=timedelta(seconds=settings.GATE_SYNC_INTERVAL_SECONDS),
            hot=timedelta(minutes=settings.GATE_SYNC_HOT_MINUTES),
            quiet=timedelta(minutes=settings.GATE_SYNC_QUIET_MINUTES),
            max_prs=settings.GATE_SYNC_MAX_PRS_PER_CYCLE,
        )


@dataclass(frozen=True)
class BatchActivity:
    """What the scheduler knows of one active batch."""

    batch_id: int
    prs: int  # linked PRs: what polling the batch costs on GitHub (about 3.3 GETs each)
    last_polled: datetime | None  # None: a linked PR or an automated gate was never read
    last_change: datetime | None  # newest gate event, head commit, merge or webhook naming its PRs


@dataclass(frozen=True)
class Due:
    batch_id: int
    prs: int
    reason: str  # NEW, HOT or QUIET
    countdown: float = 0.0


def _is_hot(activity: BatchActivity, *, now: datetime, policy: PollPolicy) -> bool:
    return activity.last_change is not None and now - activity.last_change <= policy.hot


def _quiet_share(quiet_prs: int, policy: PollPolicy) -> int:
    """PRs of quiet batches to poll per cycle: each once per ``policy.quiet``, with room to catch up."""
    cycles = policy.quiet / policy.interval
    return math.ceil(QUIET_CATCH_UP * quiet_prs / max(cycles, 1.0))


def due_batches(activities: Iterable[BatchActivity], *, now: datetime, policy: PollPolicy) -> list[Due]:
    """The batches to poll this cycle, most urgent first, within the per-cycle PR budget."""
    new, hot, quiet = [], [], []
    for activity in activities:
        if activity.last_polled is None:
            new.append(activity)
        elif _is_hot(activity, now=now, policy=policy):
            hot.append(activity)
        else:
            quiet.append(activity)
    oldest_first = sorted(hot, key=lambda a: (a.last_polled, a.batch_id))
    chosen = [Due(a.batch_id, a.prs, NEW) for a in sorted(new, key=lambda a: a.batch_id)]
    chosen += [Due(a.batch_id, a.prs, HOT) for a in oldest_first]
    share = _quiet_share(sum(a.prs for a in quiet), policy)
    taken = 0
    for activity in sorted(quiet, key=lambda a: (a.last_polled, a.batch_id)):
        assert activity.last_polled is not None
        if taken >= share or now - activity.last_polled < policy.quiet:
            break
        chosen.append(Due(activity.batch_id, activity.prs, QUIET))
        taken += max(activity.prs, 1)
    within: list[Due] = []
    budget = 0
    for due in chosen:
        if within and budget + due.prs > policy.max_prs:
            break  # the rest stay due, and are the oldest next cycle
        within.append(due)
        budget += due.prs
    return within


def spread(count: int, *, span: float) -> list[float]:
    """Countdowns (seconds) for ``count`` tasks, evenly over ``span``: the first at once."""
    if count <= 0:
        return []
    step = span / count
    return [round(index * step, 3) for index in range(count)]


def cycle_plan(activities: Iterable[BatchActivity], *, now: datetime, policy: PollPolicy) -> list[Due]:
    """:func:`due_batches`, each given its countdown so the cycle's requests are spread over it."""
    due = due_batches(activities, now=now, policy=policy)
    span = policy.interval.total_seconds() * SPREAD_FRACTION
    return [
        Due(d.batch_id, d.prs, d.reason, countdown)
        for d, countdown in zip(due, spread(len(due), span=span), strict=True)
    ]


# -- rate-limit headers ---------------------------------------------------------------


def polling_pause(entry: dict[str, Any] | None, *, now: float, reserve: int) -> str | None:
    """Why polling must wait now (a sentence), or None. ``entry`` is :meth:`CacheRateLimitLedger.read`'s."""
    if not entry:
        return None
    retry_at = entry.get("retry_at")
    if retry_at is not None and retry_at > now:
        return f"GitHub asked us to wait {math.ceil(retry_at - now)} s more (rate limited)."
    remaining, reset_at = entry.get("remaining"), entry.get("reset_at")
    if remaining is not None and remaining <= reserve and (reset_at is None or reset_at > now):
        until = f" for {math.ceil(reset_at - now)} s, until the limit resets" if reset_at is not None else ""
        return (
            f"Only {remaining} GitHub requests are left{until}; polling waits, "
            f"keeping the last {reserve} for webhooks and people."
        )
    return None


class CacheRateLimitLedger:
    """The :class:`providers.http.RateLimitLedger` the portal hands to the GitHub client.

    Kept in the cache (Redis in production) so every worker paces on the newest headers
    any of them saw. Read-modify-write without a lock: two workers racing lose one reading,
    which the next answer's headers replace; a ``retry_at`` only ever moves later.
    """

    TIMEOUT = 2 * 3600  # longer than GitHub's hourly window, so a stale reading still expires

    @staticmethod
    def key(provider: str, resource: str = "") -> str:
        return f"gatehouse:rate-limit:{provider}:{resource or 'core'}"

    def record(self, provider: str, status: RateLimitStatus) -> None:
        key = self.key(provider, status.resource)
        try:
            entry = dict(cache.get(key) or {})
            if status.remaining is not None:
                entry.update(remaining=status.remaining, limit=status.limit, reset_at=status.reset_at)
            if status.retry_at is not None:
                entry["retry_at"] = max(entry.get("retry_at") or 0.0, status.retry_at)
            entry["seen_at"] = time.time()
            cache.set(key, entry, timeout=self.TIMEOUT)
        except Exception:
            # Advisory: a cache outage must not fail the request whose headers these were.
            logger.warning("Could not record %s's rate-limit headers.", provider, exc_info=True)

    def read(self, provider: str = "GitHub", resource: str = "") -> dict[str, Any] | None:
        try:
            return cache.get(self.key(provider, resource))
        except Exception:
            logger.warning("Could not read %s's rate-limit headers.", provider, exc_info=True)
            return None

    def forget(self, provider: str = "GitHub", resource: str = "") -> None:
        try:
            cache.delete(self.key(provider, resource))
        except Exception:
            logger.warning("Could not forget %s's rate-limit headers.", provider, exc_info=True)


def github_polling_pause(*, now: float | None = None) -> str | None:
    """:func:`polling_pause` for GitHub's REST limit, read from the shared ledger."""
    return polling_pause(
        CacheRateLimitLedger().read(),
        now=timezone.now().timestamp() if now is None else now,
        reserve=settings.GITHUB_RATE_LIMIT_RESERVE,
    )


def github_retry_wait(*, now: float | None = None) -> float | None:
    """Seconds GitHub still asked us to wait (``retry-after``, an exhausted limit), or None."""
    entry = CacheRateLimitLedger().read() or {}
    now = timezone.now().timestamp() if now is None else now
    retry_at = entry.get("retry_at")
    return retry_at - now if retry_at is not None and retry_at > now else None


# -- reading the activity ---------------------------------------------------------------


def batch_activity(batches: QuerySet[Batch] | Sequence[Batch], *, now: datetime, hot: timedelta) -> list[BatchActivity]:
    """One :class:`BatchActivity` per batch with something to read, in at most six queries whatever their number."""
    ids = [b.pk for b in batches]
    if not ids:
        return []
    cutoff = now - hot
    prs: dict[int, dict[str, Any]] = {
        row["batch_id"]: dict(row)
        for row in PlannedPR.objects.filter(batch_id__in=ids, github_number__isnull=False)
        .values("batch_id")
        .annotate(
            n=Count("pk"),
            never=Count("pk", filter=Q(last_synced_at__isnull=True)),
            oldest=Min("last_synced_at"),
            head=Max("head_committed_at"),
            merged=Max("merged_at"),
        )
        .order_by()
    }
    gates: dict[int, dict[str, Any]] = {
        row["batch_id"]: dict(row)
        for row in Gate.objects.filter(batch_id__in=ids)
        .exclude(kind=GateKind.MANUAL)
        .values("batch_id")
        .annotate(never=Count("pk", filter=Q(last_checked_at__isnull=True)), oldest=Min("last_checked_at"))
        .order_by()
    }
    events = dict(
        GateEvent.objects.filter(gate__batch_id__in=ids, created_at__gte=cutoff)
        .values("gate__batch_id")
        .annotate(last=Max("created_at"))
        .order_by()
        .values_list("gate__batch_id", "last")
    )
    # Webhook deliveries name planned PR ids (a JSON list): few arrive within the hot window.
    webhook_at: dict[int, datetime] = {}
    received = list(
        WebhookDelivery.objects.filter(received_at__gte=cutoff, pr_count__gt=0).values_list("received_at", "pr_ids")
    )
    named = {pr_id for _, pr_ids in received for pr_id in pr_ids}
    if named:
        batch_of = dict(PlannedPR.objects.filter(pk__in=named, batch_id__in=ids).values_list("pk", "batch_id"))
        for at, pr_ids in received:
            for pr_id in pr_ids:
                if (batch_id := batch_of.get(pr_id)) is not None:
                    webhook_at[batch_id] = max(at, webhook_at.get(batch_id, at))
    activities = []
    for batch_id in ids:
        pr: dict[str, Any] = prs.get(batch_id) or {}
        gate: dict[str, Any] = gates.get(batch_id) or {}
        if not pr and not gate:
            continue  # no linked PR and no automated gate: nothing to read
        if pr.get("never") or gate.get("never") or not (pr.get("oldest") or gate.get("oldest")):
            last_polled = None
        else:
            last_polled = min(t for t in (pr.get("oldest"), gate.get("oldest")) if t is not None)
        changes = [events.get(batch_id), pr.get("head"), pr.get("merged"), webhook_at.get(batch_id)]
        activities.append(
            BatchActivity(
                batch_id=batch_id,
                prs=pr.get("n", 0),
                last_polled=last_polled,
                last_change=max((t for t in changes if t is not None), default=None),
            )
        )
    return activities
