"""The critical-path rule: a PR that changes a critical path needs an AI review.

The plan's AI-assisted review principle ("require the AI reviewer on every PR
touching critical paths") becomes a list of path globs on the plan, taken from
the principle's wording where it names paths and editable on the plan settings
page. Any linked PR of a batch not yet approved whose changed files match one
is covered by an AI-review gate: the plan's own when one covers it, otherwise
one gate per batch that this rule adds (origin "critical-path rule").

The gate follows the PRs' files as they change with pushes, with one
exception: a gate that has history (a state change, a waiver) is never
removed nor narrowed, so nothing that was recorded about it is lost. Approved
batches never change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from django.db import transaction

from batches.models import (
    Batch,
    BatchEvent,
    BatchEventAction,
    BatchState,
    Gate,
    GateEvent,
    GateKind,
    GateOrigin,
    GateScope,
    GateState,
    Plan,
    PlannedPR,
)
from portal.roles import Actor

CRITICAL_GATE_KEY = "ai-review-critical-path"
CRITICAL_GATE_LABEL = "AI review of the PRs that change a critical path"
# After the plan's own gates, before the settings' deploy/observability gates (90, 91).
CRITICAL_GATE_POSITION = 80
MAX_GLOBS = 50
MAX_GLOB_LENGTH = 200
_GLOB_CHARS = re.compile(r"^[\w.*?/\-]+$")


class CriticalPathError(ValueError):
    """A glob the rule cannot use. ``str()`` is for people."""


@lru_cache(maxsize=256)
def _compiled(glob: str) -> re.Pattern[str]:
    """``*`` and ``?`` stay within a folder; a ``**`` segment spans any number of folders, none included.

    So ``**/auth/**`` matches ``auth/x.py`` and ``a/b/auth/c/d.py``, and ``render.yaml``
    only the file at the root (like ``glob.translate(recursive=True)``, which needs Python 3.13).
    """
    parts = glob.strip("/").split("/")
    pattern = ""
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            pattern += ".*" if last else "(?:[^/]+/)*"
            continue
        pattern += "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in part)
        if not last:
            pattern += "/"
    return re.compile(pattern + r"\Z")


def path_matches(path: str, globs: Iterable[str]) -> str | None:
    """The first glob that ``path`` (repository-relative) matches, or None."""
    path = path.lstrip("/")
    return next((glob for glob in globs if _compiled(glob.strip().lstrip("/")).match(path)), None)


def clean_globs(lines: Iterable[str]) -> list[str]:
    """Globs as typed (one per line, or comma-separated), checked; raises CriticalPathError naming the bad one."""
    globs: list[str] = []
    for raw in lines:
        for glob in (part.strip().lstrip("/") for part in raw.split(",")):
            if not glob:
                continue
            if len(glob) > MAX_GLOB_LENGTH or not _GLOB_CHARS.match(glob):
                raise CriticalPathError(
                    f"“{glob[:80]}” is not a path glob: use paths with *, ** and ?, e.g. backend/app/routers/**."
                )
            if glob not in globs:
                globs.append(glob)
    if len(globs) > MAX_GLOBS:
        raise CriticalPathError(f"At most {MAX_GLOBS} critical paths; this list has {len(globs)}.")
    return globs


def critical_prs(prs: Iterable[PlannedPR], globs: list[str]) -> dict[int, str]:
    """{PR number: the first file of it that matches, with the glob} for the linked PRs that touch a critical path."""
    found: dict[int, str] = {}
    if not globs:
        return found
    for pr in prs:
        if not pr.github_number:
            continue
        for name in pr.changed_files or []:
            glob = path_matches(str(name), globs)
            if glob:
                found[pr.number] = f"{name} ({glob})"
                break
    return found


def critical_path_gates_sync(
    *, plan: Plan, batches: Iterable[Batch] | None = None, by: Actor | None = None
) -> list[str]:
    """Bring the critical-path AI-review gates of ``plan``'s open batches in line with their PRs' files.

    Returns a sentence per change; each change is also in the batch's history.
    A constant number of queries, whatever the plan's size.
    """
    if batches is None:
        open_batches = list(plan.batches.exclude(state=BatchState.APPROVED).order_by("number"))
    else:
        open_batches = [b for b in batches if b.state != BatchState.APPROVED]
    if not open_batches:
        return []
    globs = list(plan.critical_paths or [])
    batch_ids = [b.pk for b in open_batches]
    prs_of: dict[int, list[PlannedPR]] = {}
    for pr in PlannedPR.objects.filter(batch_id__in=batch_ids).only(
        "pk", "batch_id", "number", "github_number", "changed_files"
    ):
        prs_of.setdefault(pr.batch_id, []).append(pr)
    covered: dict[int, set[int] | None] = {}  # batch id -> PR ids the plan's AI review covers (None: all)
    existing: dict[int, Gate] = {}
    for gate in Gate.objects.filter(batch_id__in=batch_ids, kind=GateKind.AI_REVIEW).prefetch_related("prs"):
        if gate.origin == GateOrigin.CRITICAL_PATH:
            existing[gate.batch_id] = gate
        elif gate.scope == GateScope.BATCH:
            covered[gate.batch_id] = None
        elif (known := covered.setdefault(gate.batch_id, set())) is not None:
            known.update(pr.pk for pr in gate.prs.all())
    with_history = set(
        GateEvent.objects.filter(gate__in=list(existing.values())).values_list("gate_id", flat=True).distinct()
    )

    changes: list[str] = []
    events: list[BatchEvent] = []
    with transaction.atomic():
        for batch in open_batches:
            prs = {pr.number: pr for pr in prs_of.get(batch.pk, [])}
            matches = critical_prs(prs.values(), globs)
            plan_covers = covered.get(batch.pk, set())
            wanted = {
                prs[number].pk for number in matches if plan_covers is not None and prs[number].pk not in plan_covers
            }
            found = existing.get(batch.pk)
            if found is None and not wanted:
                continue
            why = "; ".join(f"PR #{n} changes {matches[n]}" for n in sorted(matches) if prs[n].pk in wanted)
            if found is None:
                added = Gate.objects.create(
                    batch=batch,
                    key=CRITICAL_GATE_KEY,
                    kind=GateKind.AI_REVIEW,
                    label=CRITICAL_GATE_LABEL,
                    position=CRITICAL_GATE_POSITION,
                    origin=GateOrigin.CRITICAL_PATH,
                    scope=GateScope.PRS,
                    state=GateState.PENDING,
                    detail="Not checked yet: the AI review is read at the next sync.",
                )
                added.prs.set(wanted)
                events.append(BatchEvent(batch=batch, action=BatchEventAction.CRITICAL_GATE_ADDED, by=by, detail=why))
                changes.append(f"Batch {batch.number}: added “{CRITICAL_GATE_LABEL}” ({why}).")
                continue
            gate = found
            current = {pr.pk for pr in gate.prs.all()}
            if gate.pk in with_history:
                # Its history stays meaningful only with the PRs it was about: it may grow, never shrink.
                wanted |= current
            if wanted == current:
                continue
            if not wanted:
                gate.delete()
                events.append(
                    BatchEvent(
                        batch=batch,
                        action=BatchEventAction.CRITICAL_GATE_REMOVED,
                        by=by,
                        detail="No linked PR changes a critical path any more.",
                    )
                )
                changes.append(f"Batch {batch.number}: removed “{gate.label}”: no PR changes a critical path.")
                continue
            gate.prs.set(wanted)
            numbers = ", ".join(
                f"#{pr.number}" for pr in sorted(prs.values(), key=lambda p: p.number) if pr.pk in wanted
            )
            events.append(
                BatchEvent(
                    batch=batch,
                    action=BatchEventAction.CRITICAL_GATE_CHANGED,
                    by=by,
                    detail=f"Now covers PR {numbers}. {why}".strip(),
                )
            )
            changes.append(f"Batch {batch.number}: “{gate.label}” now covers PR {numbers}.")
        BatchEvent.objects.bulk_create(events)
    return changes
