"""batches.sync, directly: which batches a pass reads, what a PR sync changes, targeted syncs, the lock.

States come from the fake GitHub through the product's own sync.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from batches.gates import Providers
from batches.models import BatchState, GateKind, GateState
from batches.sync import BatchBusy, SyncReport, active_batches, batch_lock, batch_sync, pr_sync, prs_for_delivery
from tests.batches.conftest import REPO, SHA1, SHA2
from tests.conftest import REPO as REPO_ROOT
from tests.factories import BatchFactory, PlannedPRFactory

pytestmark = pytest.mark.django_db


def test_active_batches_are_the_open_ones_and_planned_ones_with_a_linked_pr(batch, plan):
    approved = BatchFactory(plan=plan, number=2, state=BatchState.APPROVED)
    PlannedPRFactory(batch=approved, number=9, github_number=90)
    planned_linked = BatchFactory(plan=plan, number=3)
    PlannedPRFactory(batch=planned_linked, number=10, github_number=91)
    BatchFactory(plan=plan, number=4)  # planned, nothing linked
    assert [b.number for b in active_batches()] == [1, 3]


def test_pr_sync_reads_the_pull_request_and_asks_for_a_head_commit_once(batch, open_prs):
    pr = batch.prs.get(number=1)
    with Providers() as providers:
        changed = pr_sync(pr=pr, providers=providers)
    assert set(changed) >= {"github_state", "head_sha", "head_committed_at"}
    assert (pr.github_state, pr.head_sha) == ("open", SHA1)
    commit_path = f"/github/repos/{REPO}/commits/{SHA1}"
    assert len(open_prs.requests_to(commit_path)) == 1
    with Providers() as providers:
        assert pr_sync(pr=pr, providers=providers) == []
    assert len([s for s in open_prs.requests_to(commit_path) if s.path == commit_path]) == 1


def test_a_merged_pr_records_its_files_and_merge_commit(batch, providers):
    providers.github_pr(
        REPO,
        11,
        head_sha=SHA1,
        state="closed",
        merged_at="2026-03-01T10:00:00Z",
        merge_commit_sha="m" * 40,
        files=["DEPLOYMENT_STATUS.md", "monitor-production.sh"],
    )
    pr = batch.prs.get(number=1)
    with Providers() as gateway:
        pr_sync(pr=pr, providers=gateway)
    pr.refresh_from_db()
    assert pr.is_merged
    assert pr.merge_commit_sha == "m" * 40
    assert pr.changed_files == ["DEPLOYMENT_STATUS.md", "monitor-production.sh"]


def test_a_targeted_sync_reads_only_its_prs_and_the_gates_covering_them(batch, open_prs):
    pr1 = batch.prs.get(number=1)
    open_prs.github_checks(REPO, SHA1, [{"name": "pytest", "status": "completed", "conclusion": "success"}])
    report = batch_sync(batch=batch, pr_ids=[pr1.pk])
    assert not open_prs.requests_to(f"/github/repos/{REPO}/pulls/12")  # PR #2 was not read
    assert not open_prs.requests_to("/sentry")  # the observability gate is not PR-driven
    ci = batch.gates.get(kind=GateKind.CI)
    assert ci.state == GateState.PENDING  # PR #2 is not read from GitHub yet
    assert "PR #2: not read from GitHub yet" in ci.detail
    assert any("CI" in line for line in report.changes)


def test_a_pr_error_marks_the_github_gates_stale_and_is_reported(batch, open_prs):
    open_prs.raw(f"/github/repos/{REPO}/pulls/11", "down", status=502)
    report = batch_sync(batch=batch)
    assert str(report.errors[0]) == "GitHub is unavailable (HTTP 502)."
    assert report.retry_error() is report.errors[0]  # the one worth retrying
    assert batch.gates.get(kind=GateKind.CI).state == GateState.STALE
    assert batch.gates.get(kind=GateKind.AI_REVIEW).state == GateState.STALE


def test_one_sync_of_a_batch_at_a_time(batch):
    with batch_lock(batch.pk), pytest.raises(BatchBusy):
        batch_sync(batch=batch)
    batch_sync(batch=batch)  # released afterwards


def test_deliveries_map_to_planned_prs_by_number_or_head_commit(batch, open_prs):
    batch_sync(batch=batch)
    pr1, pr2 = batch.prs.order_by("number")
    assert prs_for_delivery(repository=REPO, numbers=[11]) == [pr1.pk]
    assert prs_for_delivery(repository=REPO.upper(), shas=[SHA2]) == [pr2.pk]
    assert prs_for_delivery(repository="someone/else", numbers=[11]) == []
    assert prs_for_delivery(repository=REPO) == []


def test_the_longest_rate_limit_wait_is_the_one_to_retry_on():
    from providers.http import RateLimited, Unavailable

    report = SyncReport(
        errors=[Unavailable("down"), RateLimited("slow", retry_after=5), RateLimited("x", retry_after=60)]
    )
    assert report.retry_error().retry_after == 60
    assert SyncReport(errors=[Unavailable("down")]).retry_error().retryable


# Finding 6: provider URLs (detail_url, github_url) went into href with no scheme check.
@pytest.mark.django_db
def test_provider_urls_become_links_only_when_they_are_https(open_prs, batch, release_manager, client):
    from providers.fake import payloads

    pull = payloads.github_pull(REPO, 11, head_sha=SHA1, state="open", merged_at=None, merge_commit_sha="")
    pull["html_url"] = "javascript:alert(document.cookie)"
    open_prs.json(f"/github/repos/{REPO}/pulls/11", pull)
    open_prs.github_checks(
        REPO,
        SHA1,
        [{"name": "pytest", "status": "completed", "conclusion": "failure", "html_url": "http://evil.test/"}],
    )
    batch_sync(batch=batch)
    ci = batch.gates.get(kind=GateKind.CI)
    assert ci.state == GateState.FAILING
    assert ci.detail_url == ""  # not stored
    pr1 = batch.prs.get(number=1)
    assert not pr1.github_url.startswith("javascript:")
    # A row written before the check is not linked either.
    batch.prs.filter(number=2).update(github_url="javascript:alert(1)")
    batch.gates.filter(pk=ci.pk).update(detail_url="data:text/html,<script>alert(1)</script>")
    client.force_login(release_manager)
    for path in (f"/plans/{batch.plan.slug}/batches/1/", f"/plans/{batch.plan.slug}/batches/1/present/"):
        html = client.get(path).content.decode()
        assert 'href="javascript:' not in html
        assert 'href="data:text' not in html
        assert 'href="http://evil.test/' not in html
    api_pr = batch.prs.get(number=2)
    assert api_pr.github_link == ""


def test_https_or_blank():
    from portal.links import https_or_blank

    assert https_or_blank("https://github.com/o/r/pull/1") == "https://github.com/o/r/pull/1"
    for bad in (
        "http://github.com/",
        "javascript:alert(1)",
        "JAVASCRIPT:x",
        "data:text/html,x",
        "//evil.test/",
        "https://",
        "",
        None,
    ):
        assert https_or_blank(bad) == ""


# The lock was a cache key: with Redis down every sync failed before reading anything.
def test_a_sync_runs_and_is_still_alone_with_the_cache_unreachable(batch, open_prs, cache_down):
    open_prs.github_checks(REPO, SHA1, [{"name": "pytest", "status": "completed", "conclusion": "failure"}])
    with batch_lock(batch.pk), pytest.raises(BatchBusy):
        batch_sync(batch=batch)
    assert not open_prs.seen
    report = batch_sync(batch=batch)
    assert batch.gates.get(kind=GateKind.CI).state == GateState.FAILING
    assert any("CI" in line for line in report.changes)


HOLDER = """
import sys
import django
django.setup()
from batches.sync import batch_lock
with batch_lock(int(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


def _holder(batch_id: int) -> subprocess.Popen:
    """Another worker process, on its own database session, holding ``batch_id``'s lock until told."""
    from django.db import connection

    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": url}
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(batch_id)],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held"
    return process


def _busy(batch_id: int) -> bool:
    try:
        with batch_lock(batch_id):
            return False
    except BatchBusy:
        return True


@pytest.mark.services
@pytest.mark.parametrize("ending", ["released", "killed"])
def test_on_postgresql_two_workers_never_hold_one_batch_at_once(batch, ending):
    from django.db import connection

    assert connection.vendor == "postgresql"
    holder = _holder(batch.pk)
    try:
        assert _busy(batch.pk)
        assert not _busy(batch.pk + 1)  # another batch is not held up
    finally:
        if ending == "released":
            holder.communicate("go\n", timeout=20)
        else:
            holder.kill()  # a worker that dies mid-sync: its session ends, and the lock with it
            holder.wait(10)
    # PostgreSQL notices a killed client's closed socket at once; allow it a moment all the same.
    deadline = time.monotonic() + 5
    while _busy(batch.pk) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _busy(batch.pk)
    assert batch_sync(batch=batch).errors == []
