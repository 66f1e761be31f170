"""A plan's settings: its integrations, and the gates they add to every batch.

A batch gets a deploy gate or an observability gate when the plan names one,
or when the plan's settings say every batch needs one. The settings default to
"automatic": on once Render services (or a Sentry project) are configured, so a
plan that never mentions Render or Sentry does not carry gates nobody can pass.
Approved batches are never changed.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from batches.critical_paths import critical_path_gates_sync
from batches.models import (
    Batch,
    BatchEvent,
    BatchEventAction,
    BatchState,
    Gate,
    GateKind,
    GateOrigin,
    GateState,
    Plan,
)
from portal.roles import Actor

# What a new automated gate says until the first sync evaluates it (the sync then
# names exactly what is missing: a token, the repository, a check name, a PR link).
NOT_CHECKED_YET = (
    "Not checked yet: automated gates are checked once the batch starts or one of its PRs is linked to GitHub."
)

# The gates the settings can require of every batch: key, label and where they sit (after the plan's own).
SETTINGS_GATES = {
    GateKind.DEPLOY: ("deploy-auto", "Render deploy of the batch is live", 90),
    GateKind.OBSERVABILITY: ("observability-auto", "Sentry: no new errors since the deploy", 91),
}

# The plan fields a release manager edits on the settings page.
INTEGRATION_FIELDS = (
    "github_repository",
    "ai_reviewer_check_name",
    "ai_reviewer_bot_login",
    "ai_review_timeout_minutes",
    "render_service_ids",
    "sentry_organization",
    "sentry_project",
    "sentry_environment",
    "deploy_gate_every_batch",
    "observability_gate_every_batch",
    "critical_paths",
)


def _wants(plan: Plan, kind: str) -> bool:
    return plan.wants_deploy_gates if kind == GateKind.DEPLOY else plan.wants_observability_gates


def implicit_gates_sync(*, plan: Plan, by: Actor | None = None) -> list[str]:
    """Add or remove the settings' deploy/observability gates on every batch not yet approved.

    Returns a sentence per change; each change is also in the batch's history.
    A constant number of queries, whatever the plan's size.
    """
    batches = list(plan.batches.exclude(state=BatchState.APPROVED).order_by("number"))
    if not batches:
        return []
    gates = Gate.objects.filter(batch__in=batches, kind__in=list(SETTINGS_GATES)).only(
        "pk", "batch_id", "kind", "origin", "label"
    )
    has_plan_gate: set[tuple[int, str]] = set()
    settings_gate: dict[tuple[int, str], Gate] = {}
    for gate in gates:
        if gate.origin == GateOrigin.PLAN:
            has_plan_gate.add((gate.batch_id, gate.kind))
        else:
            settings_gate[(gate.batch_id, gate.kind)] = gate
    to_create: list[Gate] = []
    to_delete: list[Gate] = []
    events: list[BatchEvent] = []
    changes: list[str] = []
    for batch in batches:
        for kind, (key, label, position) in SETTINGS_GATES.items():
            needed = _wants(plan, kind) and (batch.pk, kind) not in has_plan_gate
            existing = settings_gate.get((batch.pk, kind))
            if needed and existing is None:
                to_create.append(
                    Gate(
                        batch=batch,
                        key=key,
                        kind=kind,
                        label=label,
                        position=position,
                        origin=GateOrigin.SETTINGS,
                        state=GateState.NEEDS_CONFIG,
                        detail=NOT_CHECKED_YET,
                    )
                )
                events.append(BatchEvent(batch=batch, action=BatchEventAction.GATE_ADDED, by=by, detail=label))
                changes.append(f"Batch {batch.number}: added “{label}”.")
            elif not needed and existing is not None:
                to_delete.append(existing)
                events.append(
                    BatchEvent(batch=batch, action=BatchEventAction.GATE_REMOVED, by=by, detail=existing.label)
                )
                changes.append(f"Batch {batch.number}: removed “{existing.label}”.")
    with transaction.atomic():
        Gate.objects.bulk_create(to_create)
        if to_delete:
            Gate.objects.filter(pk__in=[g.pk for g in to_delete]).delete()
        BatchEvent.objects.bulk_create(events)
    return changes


def plan_configure(*, plan: Plan, by: Actor | None, values: dict[str, Any]) -> list[str]:
    """Save a plan's integration settings and bring every open batch's gates in line with them.

    ``values`` holds cleaned values for some of :data:`INTEGRATION_FIELDS`.
    Returns what changed on the batches, in sentences.
    """
    unknown = set(values) - set(INTEGRATION_FIELDS)
    if unknown:
        raise ValueError(f"Not plan settings: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        locked = Plan.objects.select_for_update().get(pk=plan.pk)
        for name, value in values.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*values, "updated_at"])
        changes = implicit_gates_sync(plan=locked, by=by)
        if "critical_paths" in values:
            changes += critical_path_gates_sync(plan=locked, by=by)
    for name, value in values.items():
        setattr(plan, name, value)
    return changes


def gate_check_names_configure(*, plan: Plan, check_names: dict[int, str]) -> int:
    """Set the check name (an fnmatch pattern) of CI gates of ``plan``'s open batches; returns how many changed."""
    gates = Gate.objects.filter(
        pk__in=list(check_names), batch__plan=plan, kind=GateKind.CI, batch__state__in=_OPEN_STATES
    )
    changed = []
    for gate in gates:
        name = check_names[gate.pk].strip()
        if gate.check_name != name:
            gate.check_name = name
            changed.append(gate)
    Gate.objects.bulk_update(changed, ["check_name"])
    return len(changed)


_OPEN_STATES = [BatchState.PLANNED, BatchState.IN_PROGRESS, BatchState.READY_FOR_REVIEW]


def open_batches(plan: Plan):
    return Batch.objects.filter(plan=plan, state__in=_OPEN_STATES)
