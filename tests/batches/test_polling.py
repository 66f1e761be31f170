"""Adaptive polling: which batches a cycle polls, how it spreads them, when GitHub's headers pause it,
and idle against changed cycles end to end against the fake GitHub on loopback."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta

import django.utils.timezone
import pytest
from django.utils import timezone

from batches.models import BatchState, GateKind, GateState
from batches.polling import (
    HOT,
    NEW,
    QUIET,
    BatchActivity,
    CacheRateLimitLedger,
    PollPolicy,
    batch_activity,
    cycle_plan,
    due_batches,
    polling_pause,
    spread,
)
from batches.sync import active_batches
from batches.tasks import poll_cycle, sync_all, sync_batch
from providers.fake import webhook_delivery
from providers.fake.webhooks import check_run_completed
from providers.http import request_stats, reset_request_stats
from tests.batches.conftest import REPO, WEBHOOK_SECRET
from tests.factories import BatchFactory, GateFactory, PlannedPRFactory

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = PollPolicy(interval=timedelta(seconds=60), hot=timedelta(minutes=10), quiet=timedelta(minutes=30), max_prs=270)


def act(batch_id: int, *, prs: int = 3, polled: float | None = 0, changed: float | None = None) -> BatchActivity:
    """An activity whose times are given in minutes before T0 (None: never)."""
    return BatchActivity(
        batch_id=batch_id,
        prs=prs,
        last_polled=None if polled is None else T0 - timedelta(minutes=polled),
        last_change=None if changed is None else T0 - timedelta(minutes=changed),
    )


# -- which batches are due ------------------------------------------------------------


def test_new_and_hot_batches_are_polled_every_cycle_quiet_ones_only_once_their_interval_passed():
    due = due_batches(
        [
            act(1, polled=None),  # a PR just linked: never read
            act(2, polled=1, changed=3),  # a gate changed 3 minutes ago
            act(3, polled=1, changed=45),  # quiet, polled a minute ago
            act(4, polled=31, changed=45),  # quiet, last polled 31 minutes ago: due
            act(5, polled=29, changed=None),  # quiet, not yet due
        ],
        now=T0,
        policy=POLICY,
    )
    assert [(d.batch_id, d.reason) for d in due] == [(1, NEW), (2, HOT), (4, QUIET)]


def test_hot_ends_when_the_window_passes():
    assert [d.reason for d in due_batches([act(1, polled=1, changed=9.9)], now=T0, policy=POLICY)] == [HOT]
    assert due_batches([act(1, polled=1, changed=10.1)], now=T0, policy=POLICY) == []


def test_quiet_batches_get_a_fair_share_per_cycle_oldest_first_so_they_never_come_due_at_once():
    # 300 quiet batches of 3 PRs, all overdue (say, all polled at startup): one cycle polls its share,
    # 1.5 × 900 PRs / 30 cycles = 45 PRs, 15 batches: the oldest.
    quiet = [act(n, polled=31 + n % 7, changed=None) for n in range(1, 301)]
    due = due_batches(quiet, now=T0, policy=POLICY)
    assert sum(d.prs for d in due) == 45
    assert {d.reason for d in due} == {QUIET}
    oldest = sorted(quiet, key=lambda a: (a.last_polled, a.batch_id))[:15]
    assert [d.batch_id for d in due] == [a.batch_id for a in oldest]


def test_the_per_cycle_budget_takes_new_then_hot_then_quiet_and_leaves_the_rest_for_next_cycle():
    policy = PollPolicy(interval=POLICY.interval, hot=POLICY.hot, quiet=POLICY.quiet, max_prs=9)
    activities = [
        act(1, polled=40),  # quiet and overdue, but last in line
        act(2, polled=2, changed=1),
        act(3, polled=None),
        act(4, polled=5, changed=1),  # hot, polled longest ago of the hot ones
        act(5, polled=3, changed=1),
    ]
    due = due_batches(activities, now=T0, policy=policy)
    assert [(d.batch_id, d.reason) for d in due] == [(3, NEW), (4, HOT), (5, HOT)]
    # One batch bigger than the whole budget still goes, alone: nothing is starved for ever.
    policy = PollPolicy(interval=POLICY.interval, hot=POLICY.hot, quiet=POLICY.quiet, max_prs=2)
    assert [d.batch_id for d in due_batches([act(7, polled=None)], now=T0, policy=policy)] == [7]


def test_countdowns_spread_the_cycle_evenly_and_end_before_the_next_one():
    assert spread(0, span=48) == []
    assert spread(4, span=48) == [0, 12, 24, 36]
    plan = cycle_plan([act(n, polled=None) for n in range(1, 11)], now=T0, policy=POLICY)
    countdowns = [d.countdown for d in plan]
    assert countdowns[0] == 0
    assert countdowns == sorted(countdowns)
    assert max(countdowns) < POLICY.interval.total_seconds()
    gaps = {round(b - a, 3) for a, b in itertools.pairwise(countdowns)}
    assert gaps == {4.8}


# -- when GitHub's headers pause polling ------------------------------------------------------


def test_polling_pauses_while_github_says_wait_or_the_reserve_is_reached():
    now = 1_000_000.0
    assert polling_pause(None, now=now, reserve=500) is None
    assert polling_pause({"remaining": 4000, "reset_at": now + 600}, now=now, reserve=500) is None
    low = polling_pause({"remaining": 120, "reset_at": now + 600}, now=now, reserve=500)
    assert low is not None
    assert "120" in low
    assert "600 s" in low
    # Once the window has reset, the old reading says nothing.
    assert polling_pause({"remaining": 120, "reset_at": now - 1}, now=now, reserve=500) is None
    told = polling_pause({"remaining": 4000, "reset_at": now + 600, "retry_at": now + 42}, now=now, reserve=500)
    assert told is not None
    assert "42 s" in told
    assert polling_pause({"remaining": 4000, "retry_at": now - 1}, now=now, reserve=500) is None


def test_the_ledger_keeps_the_latest_reading_and_the_latest_retry_time(settings):
    from providers.http import RateLimitStatus

    ledger = CacheRateLimitLedger()
    ledger.record("GitHub", RateLimitStatus(remaining=4000, limit=5000, reset_at=2e9, resource="core"))
    ledger.record("GitHub", RateLimitStatus(retry_at=2e9 + 60))
    ledger.record("GitHub", RateLimitStatus(remaining=3999, limit=5000, reset_at=2e9, retry_at=2e9 + 5))
    ledger.record("GitHub", RateLimitStatus(remaining=10, limit=5000, reset_at=2e9, resource="graphql"))
    entry = ledger.read()
    assert entry is not None
    assert (entry["remaining"], entry["retry_at"]) == (3999, 2e9 + 60)
    assert (ledger.read(resource="graphql") or {})["remaining"] == 10


# -- reading the activity from what the product records ---------------------------------------


def _check_run_webhook(client, capture, pr, conclusion: str) -> None:
    """GitHub's signed ``check_run`` delivery for ``pr``'s head, processed as the view queues it."""
    payload = check_run_completed(
        REPO,
        name="pytest",
        conclusion=conclusion,
        head_sha=f"{pr.github_number:040x}",
        numbers=[pr.github_number],
        completed_at="2026-06-01T12:00:00Z",
    )
    delivery = webhook_delivery(secret=WEBHOOK_SECRET, event="check_run", payload=payload)
    headers = {k: v for k, v in delivery.headers.items() if k != "Content-Type"}
    with capture(execute=True):
        response = client.post("/webhooks/github/", delivery.body, content_type="application/json", headers=headers)
    assert response.status_code == 202, response.content


def _recent(activity: BatchActivity) -> bool:
    return activity.last_change is not None and timezone.now() - activity.last_change <= POLICY.hot


def _linked_batch(plan, number: int, *, state=BatchState.IN_PROGRESS, prs=(1,)):
    batch = BatchFactory(plan=plan, number=number, state=state)
    for n in prs:
        PlannedPRFactory(batch=batch, number=n, github_number=100 * number + n)
    GateFactory(batch=batch, key="ci-1", kind=GateKind.CI, check_name="pytest")
    return batch


@pytest.mark.django_db
def test_activity_is_derived_from_syncs_gate_events_and_webhooks_in_a_fixed_number_of_queries(
    plan, providers, client, django_assert_num_queries, django_capture_on_commit_callbacks
):
    batches = [_linked_batch(plan, n, prs=(1, 2)) for n in (1, 2, 3)]
    _linked_batch(plan, 4, state=BatchState.APPROVED)
    nothing = BatchFactory(plan=plan, number=5, state=BatchState.IN_PROGRESS)  # no PR, no automated gate
    for batch in batches:
        for pr in batch.prs.all():
            sha = f"{pr.github_number:040x}"
            providers.github_pr(REPO, pr.github_number, head_sha=sha)
    now = timezone.now()
    # The batches, their PRs, gates, recent gate events and recent webhook deliveries.
    with django_assert_num_queries(5):
        activity = {a.batch_id: a for a in batch_activity(active_batches(), now=now, hot=POLICY.hot)}
    assert set(activity) == {b.pk for b in batches}  # approved: never; nothing to read: skipped
    assert nothing.pk not in activity
    assert all(a.last_polled is None and a.prs == 2 for a in activity.values())

    # The first sync reads them; nothing was reported, so no gate changes.
    for batch in batches:
        sync_batch.delay(batch.pk)
    activity = {a.batch_id: a for a in batch_activity(active_batches(), now=timezone.now(), hot=POLICY.hot)}
    assert all(a.last_polled is not None for a in activity.values())
    assert not any(_recent(a) for a in activity.values())  # the head commits are from January

    # A signed webhook names batch 2's PR: it is hot from the delivery (and its gate event) on.
    pr = batches[1].prs.get(number=1)
    _ci_passes(providers, pr.github_number, "failure")
    _check_run_webhook(client, django_capture_on_commit_callbacks, pr, "failure")
    assert batches[1].gates.get().state == GateState.FAILING
    with django_assert_num_queries(6):  # and the batches of the PRs the deliveries named
        activity = {a.batch_id: a for a in batch_activity(active_batches(), now=timezone.now(), hot=POLICY.hot)}
    assert [b.pk for b in batches if _recent(activity[b.pk])] == [batches[1].pk]


# -- end to end: idle and changed cycles against the fake GitHub ------------------------------


@pytest.fixture
def clock(monkeypatch):
    """The product's clock (``timezone.now``, model defaults included), moved forward by ``advance``."""
    real = datetime

    class Shifted(datetime):
        offset = timedelta()

        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return real.now(tz) + cls.offset

    monkeypatch.setattr(django.utils.timezone, "datetime", Shifted)

    class Clock:
        def advance(self, **delta: float) -> None:
            Shifted.offset += timedelta(**delta)

    return Clock()


BATCHES = 6


def _ci_passes(providers, number: int, conclusion: str = "success") -> None:
    providers.github_checks(
        REPO, f"{number:040x}", [{"name": "pytest", "status": "completed", "conclusion": conclusion}]
    )


@pytest.fixture
def six_batches(plan, providers):
    """Six batches in progress, two open PRs each, a CI gate each; CI passes everywhere."""
    batches = [_linked_batch(plan, n, prs=(1, 2)) for n in range(1, BATCHES + 1)]
    for batch in batches:
        for pr in batch.prs.all():
            providers.github_pr(REPO, pr.github_number, head_sha=f"{pr.github_number:040x}")
            _ci_passes(providers, pr.github_number)
    return batches


def _cycle(providers) -> tuple[list, int, int]:
    """One poll cycle: what it queued, the GitHub requests it made, and how many counted."""
    reset_request_stats()
    providers.clear_seen()
    plan = poll_cycle()
    stats = request_stats("GitHub")
    assert stats.counted == providers.counted("/github")
    return plan, stats.requests, stats.counted


@pytest.mark.django_db
def test_idle_cycles_poll_a_quiet_share_and_a_changed_batch_is_polled_every_cycle_while_hot(
    six_batches, providers, client, clock, django_capture_on_commit_callbacks
):
    plan, requests, counted = _cycle(providers)
    assert {d.reason for d in plan} == {NEW}
    assert len(plan) == BATCHES
    # Cold: each PR's pull, head commit, files, check runs and statuses, all counted.
    assert (requests, counted) == (BATCHES * 2 * 5, BATCHES * 2 * 5)
    assert {b.gates.get().state for b in six_batches} == {GateState.PASSING}

    # Quiet from now on. 40 minutes later every batch is overdue, but an idle cycle polls only its
    # share (1.5 × 12 PRs / 30 cycles: one batch), and every answer is a free 304.
    clock.advance(minutes=40)
    polled = []
    for _ in range(BATCHES):
        clock.advance(minutes=1)
        plan, requests, counted = _cycle(providers)
        assert [d.reason for d in plan] == [QUIET]
        assert (requests, counted) == (2 * 3, 0)  # two PRs: pull, check runs, statuses
        polled += [d.batch_id for d in plan]
    assert sorted(polled) == sorted(b.pk for b in six_batches)  # a rotation, each batch once
    clock.advance(minutes=1)
    plan, requests, _ = _cycle(providers)
    assert (plan, requests) == ([], 0)  # all polled within the quiet interval

    # A check fails on batch 4's PR; GitHub's webhook carries the news (a counted read of the runs).
    changed = six_batches[3]
    pr = changed.prs.get(number=1)
    _ci_passes(providers, pr.github_number, "failure")
    reset_request_stats()
    _check_run_webhook(client, django_capture_on_commit_callbacks, pr, "failure")
    assert changed.gates.get().state == GateState.FAILING
    assert request_stats("GitHub").counted == 1

    # While hot (10 minutes), the changed batch is polled every cycle; the others are left alone.
    for _ in range(9):
        clock.advance(minutes=1)
        plan, requests, counted = _cycle(providers)
        assert [(d.batch_id, d.reason) for d in plan] == [(changed.pk, HOT)]
        assert (requests, counted) == (2 * 3, 0)
    clock.advance(minutes=2)
    plan, _, _ = _cycle(providers)
    assert changed.pk not in [d.batch_id for d in plan]


@pytest.mark.django_db
def test_polling_pauses_when_githubs_headers_say_the_reserve_is_reached(six_batches, providers, settings, clock):
    settings.GITHUB_RATE_LIMIT_RESERVE = 500
    providers.github_rate_limit(remaining=530, reset_in=3600)
    # Six batches are queued; each first sync spends 10 requests, and after the third only the
    # reserve is left: the rest of the cycle is dropped, never sent.
    assert sync_all.delay().get() == BATCHES
    entry = CacheRateLimitLedger().read()
    assert entry is not None
    assert entry["remaining"] == 500
    synced = [b for b in six_batches if b.prs.filter(last_synced_at__isnull=False).exists()]
    assert synced == six_batches[:3]

    clock.advance(minutes=40)
    reset_request_stats()
    assert sync_all.delay().get() == 0
    assert request_stats("GitHub").requests == 0

    # Past the reset the reading says nothing more: polling resumes, the batches that waited first.
    clock.advance(minutes=21)
    providers.github_rate_limit(remaining=5000)
    plan = poll_cycle()
    assert [(d.batch_id, d.reason) for d in plan][:3] == [(b.pk, NEW) for b in six_batches[3:]]
    assert all(b.prs.filter(last_synced_at__isnull=True).count() == 0 for b in six_batches)


@pytest.mark.django_db
def test_a_cycle_stops_early_when_github_refuses_mid_cycle(six_batches, providers):
    # GitHub's secondary limit: a 403 with retry-after on the first PR read.
    first = six_batches[0].prs.get(number=1)
    providers.json(
        f"/github/repos/{REPO}/pulls/{first.github_number}",
        {"message": "You have exceeded a secondary rate limit."},
        status=403,
        headers={"retry-after": "120"},
    )
    reset_request_stats()
    poll_cycle()  # eager: the queued syncs run in order; after the refusal the rest are dropped
    assert request_stats("GitHub").requests == 1
    assert six_batches[0].gates.get().state == GateState.STALE
    assert all(b.prs.filter(last_synced_at__isnull=False).count() == 0 for b in six_batches)
    assert poll_cycle() == []
    pause = polling_pause(CacheRateLimitLedger().read(), now=time.time(), reserve=0)
    assert pause is not None
    assert "rate limited" in pause


def test_beat_reads_the_polling_settings(settings):
    settings.GATE_SYNC_INTERVAL_SECONDS = 30
    settings.GATE_SYNC_HOT_MINUTES = 5
    settings.GATE_SYNC_QUIET_MINUTES = 20
    settings.GATE_SYNC_MAX_PRS_PER_CYCLE = 90
    assert PollPolicy.from_settings() == PollPolicy(
        interval=timedelta(seconds=30), hot=timedelta(minutes=5), quiet=timedelta(minutes=20), max_prs=90
    )


@pytest.mark.django_db
def test_a_webhook_follow_up_waits_out_githubs_retry_after_and_is_not_dropped(six_batches, providers, monkeypatch):
    from types import SimpleNamespace

    from batches import tasks

    first = six_batches[0].prs.get(number=1)
    providers.json(
        f"/github/repos/{REPO}/pulls/{first.github_number}",
        {"message": "You have exceeded a secondary rate limit."},
        status=403,
        headers={"retry-after": "120"},
    )
    poll_cycle()  # the refusal is recorded
    queued: list[tuple] = []
    monkeypatch.setattr(tasks.sync_prs, "apply_async", lambda args, countdown: queued.append((args, countdown)))
    worker = SimpleNamespace(request=SimpleNamespace(is_eager=False, retries=0))
    other = six_batches[1].prs.get(number=1)
    reset_request_stats()
    tasks._sync_prs(worker, [other.pk])
    assert request_stats("GitHub").requests == 0
    ((args, countdown),) = queued
    assert args == ([other.pk],)
    assert 115 <= countdown <= 125
