"""Keeping gates current: read linked PRs from GitHub, then re-evaluate the automated gates.

These are plain functions; the Celery tasks in ``batches.tasks``, the
``sync_gates`` command and ``runportal``'s sync loop all call them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from batches.critical_paths import critical_path_gates_sync
from batches.gates import PR_DRIVEN_KINDS, Providers, gate_evaluate, gate_store_error, pr_repository, scope_prs
from batches.models import Batch, BatchState, Gate, GateKind, GateScope, PlannedPR
from portal.links import https_or_blank
from providers.http import ProviderError, RateLimited

logger = logging.getLogger(__name__)


@dataclass
class SyncReport:
    """What one pass changed, and the provider errors it met (already recorded on the gates)."""

    changes: list[str] = field(default_factory=list)
    errors: list[ProviderError] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def extend(self, other: SyncReport) -> None:
        self.changes += other.changes
        self.errors += other.errors
        self.skipped += other.skipped

    def retry_error(self) -> ProviderError | None:
        """The error a task should retry on: the longest rate-limit wait first, then any retryable one."""
        limited = [e for e in self.errors if isinstance(e, RateLimited)]
        if limited:
            return max(limited, key=lambda e: e.retry_after)
        return next((e for e in self.errors if e.retryable), None)


class BatchBusy(Exception):
    """Another sync of the same batch is running."""


# PostgreSQL's advisory locks share one key space per database: this first key is ours for batch syncs
# ("gh" "sy"), the second is the batch's id.
ADVISORY_LOCK_CLASS = 0x6768_7379
_local_locks_guard = threading.Lock()
_local_locks: set[int] = set()


@contextlib.contextmanager
def batch_lock(batch_id: int) -> Iterator[None]:
    """Hold the per-batch sync lock, or raise BatchBusy, so a batch is never synced twice at once.

    Not in the cache: with Redis down a sync must still run, and still alone.
    Within a process (the embedded default's web server, in-process tasks and
    sync loop; a worker's threads) a set of held ids decides. Across processes,
    on PostgreSQL, so does a session-level advisory lock (``pg_try_advisory_lock``)
    taken as well: it waits for nothing, and a worker that dies mid-sync drops it
    with its connection, so no expiry is needed. (The set comes first because one
    session may take the same advisory lock twice.)
    """
    with _local_locks_guard:
        if batch_id in _local_locks:
            raise BatchBusy(f"Batch {batch_id} is already being synced.")
        _local_locks.add(batch_id)
    try:
        if connection.vendor == "postgresql":
            with _advisory_lock(batch_id):
                yield
        else:
            yield
    finally:
        with _local_locks_guard:
            _local_locks.discard(batch_id)


@contextlib.contextmanager
def _advisory_lock(batch_id: int) -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s::integer, %s::integer)", [ADVISORY_LOCK_CLASS, batch_id])
        if not cursor.fetchone()[0]:
            raise BatchBusy(f"Batch {batch_id} is already being synced.")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s::integer, %s::integer)", [ADVISORY_LOCK_CLASS, batch_id])
        except DatabaseError:
            # The connection broke mid-sync (the database restarted), and PostgreSQL dropped the lock with
            # it; or a failed statement aborted the surrounding transaction, and closing the connection
            # is what drops the lock (inside an atomic block that is left to the block's owner).
            logger.warning("Batch %s's sync lock could not be released; closing its connection.", batch_id)
            if not connection.in_atomic_block:
                connection.close()


def active_batches() -> QuerySet[Batch]:
    """Batches worth polling: in progress or in review, or planned with a linked PR."""
    return (
        Batch.objects.filter(
            Q(state__in=[BatchState.IN_PROGRESS, BatchState.READY_FOR_REVIEW])
            | Q(state=BatchState.PLANNED, prs__github_number__isnull=False)
        )
        .distinct()
        .select_related("plan")
        .order_by("plan_id", "number")
    )


# -- pull requests -----------------------------------------------------------------


def pr_sync(*, pr: PlannedPR, providers: Providers) -> list[str]:
    """Refresh ``pr``'s GitHub fields. Returns the names of the fields that changed."""
    repo = pr_repository(pr)
    number = pr.github_number
    if number is None:
        raise ValueError(f"PR #{pr.number} is not linked to a pull request.")
    github = providers.gh()
    pull = github.get_pull(repo, number)
    values = {
        "github_state": pull.state,
        "draft": pull.draft,
        "merged_at": pull.merged_at,
        # Open PRs carry a test-merge sha that moves with every push; only a real merge's is kept.
        "merge_commit_sha": pull.merge_commit_sha if pull.merged_at else "",
        "head_sha": pull.head_sha,
        "github_url": https_or_blank(pull.html_url) or pr.github_url,
    }
    if pull.head_sha != pr.head_sha or pr.head_committed_at is None:
        # Commits are immutable, so this is asked once per new head.
        values["head_committed_at"] = github.get_commit(repo, pull.head_sha).committed_at
    # The files change with pushes (a new head) and with the merge; the critical-path rule
    # reads them on open PRs, the docs gate on merged ones. Asked again only then, so an
    # idle pass does not ask at all (linking a PR clears its head, so linking asks).
    if pull.head_sha != pr.head_sha or pull.merged_at != pr.merged_at:
        files = github.list_pull_files(repo, number)
        values["changed_files"] = [f.filename for f in files]
    changed = [name for name, value in values.items() if getattr(pr, name) != value]
    for name in changed:
        setattr(pr, name, values[name])
    pr.last_synced_at = timezone.now()
    if changed:
        pr.changed_at = pr.last_synced_at
    pr.save(update_fields=[*changed, "last_synced_at", *(["changed_at"] if changed else [])])
    return changed


# -- batches -----------------------------------------------------------------------


def _describe(gate: Gate, before: str) -> str:
    return (
        f"{gate.batch.plan.slug} batch {gate.batch.number} {gate.get_kind_display()} “{gate.label[:60]}”: "
        f"{before} → {gate.state}" + (f" ({gate.detail[:160]})" if gate.detail else "")
    )


def batch_sync(
    *,
    batch: Batch,
    providers: Providers | None = None,
    pr_ids: Iterable[int] | None = None,
    lock: bool = True,
) -> SyncReport:
    """Sync one batch: its linked PRs, then its automated gates.

    With ``pr_ids`` (a webhook named those PRs) only those PRs are read from
    GitHub and only the PR-driven gates covering them are re-evaluated.
    Provider errors are recorded on the affected gates (stale, never passing)
    and returned in the report; nothing here raises them.
    """
    if lock:
        with batch_lock(batch.pk):
            return batch_sync(batch=batch, providers=providers, pr_ids=pr_ids, lock=False)
    own = providers is None
    providers = providers or Providers()
    report = SyncReport()
    try:
        wanted = set(pr_ids) if pr_ids is not None else None
        prs = [
            pr
            for pr in batch.prs.select_related("batch__plan")
            if pr.github_number and pr_repository(pr) and (wanted is None or pr.pk in wanted)
        ]
        pr_error: ProviderError | None = None
        files_changed = False
        if prs and settings.GITHUB_TOKEN:
            for pr in prs:
                try:
                    fields = pr_sync(pr=pr, providers=providers)
                except ProviderError as exc:
                    pr_error = exc
                    report.errors.append(exc)
                    logger.warning("Could not read PR #%s of batch %s: %s", pr.number, batch.pk, exc)
                    break
                files_changed = files_changed or "changed_files" in fields
                if fields:
                    report.changes.append(
                        f"{batch.plan.slug} batch {batch.number} PR #{pr.number}: {', '.join(fields)}"
                    )

        if files_changed and batch.state != BatchState.APPROVED:
            # A PR's files changed (it was linked, or pushed to): the critical-path rule may add
            # (or drop) an AI-review gate, which the evaluation below then reads at once.
            report.changes += [
                f"{batch.plan.slug} {change}" for change in critical_path_gates_sync(plan=batch.plan, batches=[batch])
            ]

        gates = batch.gates.exclude(kind=GateKind.MANUAL).select_related("batch__plan").prefetch_related("prs")
        if wanted is not None:
            gates = (
                gates.filter(kind__in=PR_DRIVEN_KINDS).filter(Q(scope=GateScope.BATCH) | Q(prs__in=wanted)).distinct()
            )
        for gate in gates:
            before = gate.state
            if pr_error is not None and gate.kind in PR_DRIVEN_KINDS and _uses_github(gate):
                # The PR data these gates read is out of date: say so rather than judge on it.
                if gate_store_error(gate=gate, error=pr_error):
                    report.changes.append(_describe(gate, before))
                continue
            try:
                changed = gate_evaluate(gate=gate, providers=providers)
            except ProviderError as exc:
                report.errors.append(exc)
                changed = before != gate.state
                logger.log(
                    logging.WARNING if changed else logging.DEBUG,
                    "Gate %s of batch %s is stale: %s",
                    gate.pk,
                    batch.pk,
                    exc,
                )
            if changed:
                report.changes.append(_describe(gate, before))
    finally:
        if own:
            providers.close()
    return report


def _uses_github(gate: Gate) -> bool:
    if gate.kind == GateKind.DEPLOY:
        return any(pr.is_merged for pr in gate.batch.prs.all())
    return any(pr.github_number for pr in scope_prs(gate))


def batches_sync(*, batches: Iterable[Batch], providers: Providers | None = None) -> SyncReport:
    """Sync several batches in one pass (the command and the dev-server loop); busy batches are skipped."""
    report = SyncReport()
    own = providers is None
    providers = providers or Providers()
    try:
        for batch in batches:
            try:
                report.extend(batch_sync(batch=batch, providers=providers))
            except BatchBusy as exc:
                report.skipped.append(str(exc))
    finally:
        if own:
            providers.close()
    return report


def prs_for_delivery(*, repository: str, numbers: Iterable[int] = (), shas: Iterable[str] = ()) -> list[int]:
    """Planned PR ids a webhook about ``repository`` concerns: by PR number, or by head commit."""
    numbers, shas = set(numbers), {s for s in shas if s}
    if not repository or not (numbers or shas):
        return []
    in_repo = Q(github_repository__iexact=repository) | Q(
        github_repository="", batch__plan__github_repository__iexact=repository
    )
    match = Q()
    if numbers:
        match |= Q(github_number__in=numbers)
    if shas:
        match |= Q(head_sha__in=shas)
    return list(
        PlannedPR.objects.filter(in_repo & match)
        .exclude(batch__state=BatchState.APPROVED)
        .values_list("pk", flat=True)
        .order_by("pk")
    )
