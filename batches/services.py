"""Workflows that span several of the batches app's models."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlparse

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.text import slugify

from batches.models import Batch, BatchState, Gate, GateKind, GateScope, GateState, Plan, PlannedPR
from batches.plan_format import ParsedGate, ParsedPlan, PlanFormatError, parse_plan


class PlanImportError(Exception):
    """The plan could not be imported; nothing was written. ``str()`` is for people."""


@dataclass
class ImportSummary:
    plan: Plan
    created: bool
    batches: int
    prs: int
    gates: int
    removed: int


# Gates the plan does not spell out but every batch of a deployable plan has:
# the deploy must be live and Sentry must show no new errors after it.
STANDARD_GATES = (
    ParsedGate(kind=GateKind.DEPLOY, label="Render deploy of the batch is live", text="", line=0),
    ParsedGate(kind=GateKind.OBSERVABILITY, label="Sentry: no new errors since the deploy", text="", line=0),
)


# What a new automated gate says until the first sync evaluates it (the sync then
# names exactly what is missing: a token, the repository, a check name, a PR link).
NOT_CHECKED_YET = (
    "Not checked yet: automated gates are checked once the batch starts or one of its PRs is linked to GitHub."
)


def _assign(obj, values: dict) -> bool:
    """Set ``values`` on ``obj``; True when anything differed (so unchanged rows skip the UPDATE)."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def plan_slug_for(filename: str) -> str:
    stem = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return slugify(stem)[:100] or "plan"


def _gate_keys(gates: list[ParsedGate]) -> list[str]:
    counts: dict[str, int] = {}
    keys = []
    for gate in gates:
        counts[gate.kind] = counts.get(gate.kind, 0) + 1
        keys.append(f"{gate.kind.replace('_', '-')}-{counts[gate.kind]}")
    return keys


def plan_import(*, source: bytes | str, slug: str, source_name: str = "") -> ImportSummary:
    """Create or update the plan ``slug`` from a markdown document.

    Idempotent: importing the same document again changes nothing, and
    re-importing an edited plan updates rows in place, so sign-offs and
    evidence stay attached. Runs in one transaction: on any error nothing is
    written, and the error says which line is at fault.
    """
    try:
        parsed = parse_plan(source)
    except PlanFormatError as exc:
        raise PlanImportError(str(exc)) from None
    raw = source.encode() if isinstance(source, str) else source
    digest = hashlib.sha256(raw).hexdigest()
    with transaction.atomic():
        return _write_plan(parsed, slug=slug, source_name=source_name, digest=digest)


def _write_plan(parsed: ParsedPlan, *, slug: str, source_name: str, digest: str) -> ImportSummary:
    from signoffs.models import ChecklistItem, SignOff

    plan, created = Plan.objects.select_for_update().get_or_create(slug=slug, defaults={"title": parsed.title})
    plan.title = parsed.title
    plan.purpose = parsed.purpose
    plan.principles = parsed.principles
    plan.cadence = parsed.cadence
    plan.stakeholder_checkpoint = parsed.stakeholder_checkpoint
    plan.metrics = parsed.metrics
    plan.next_steps = parsed.next_steps
    plan.max_prs_per_batch = parsed.max_prs_per_batch
    plan.source_name = source_name
    plan.source_sha256 = digest
    plan.imported_at = timezone.now()
    plan.save()

    # -- batches ---------------------------------------------------------------
    existing_batches = {b.number: b for b in plan.batches.all()}
    wanted_numbers = {b.number for b in parsed.batches}
    removed = _remove_stale_batches(plan, existing_batches, wanted_numbers)
    new_batches, changed_batches = [], []
    for pb in parsed.batches:
        fields = {
            "title": pb.title,
            "target_pr_count": pb.target_pr_count,
            "goals": pb.goals,
            "key_tasks": [{"text": t.text, "pr_numbers": t.pr_numbers, "files": t.files} for t in pb.tasks],
        }
        batch = existing_batches.get(pb.number)
        if batch is None:
            new_batches.append(Batch(plan=plan, number=pb.number, **fields))
        elif _assign(batch, fields):
            changed_batches.append(batch)
    Batch.objects.bulk_create(new_batches)
    if changed_batches:
        Batch.objects.bulk_update(changed_batches, ["title", "target_pr_count", "goals", "key_tasks"])
    batches = {b.number: b for b in plan.batches.all()}

    # -- planned PRs -----------------------------------------------------------
    existing_prs = {(pr.batch_id, pr.number): pr for pr in PlannedPR.objects.filter(batch__plan=plan)}
    wanted_prs: dict[tuple[int, int], dict] = {}
    for pb in parsed.batches:
        batch = batches[pb.number]
        for task in pb.tasks:
            for number in task.pr_numbers:
                entry = wanted_prs.setdefault((batch.pk, number), {"task": [], "files": []})
                entry["task"].append(task.text)
                entry["files"].extend(f for f in task.files if f not in entry["files"])
    stale_prs = [pr.pk for key, pr in existing_prs.items() if key not in wanted_prs]
    removed += PlannedPR.objects.filter(pk__in=stale_prs).delete()[0] if stale_prs else 0
    new_prs, changed_prs = [], []
    for (batch_id, number), entry in wanted_prs.items():
        task_text = " ".join(entry["task"])
        pr = existing_prs.get((batch_id, number))
        if pr is None:
            new_prs.append(PlannedPR(batch_id=batch_id, number=number, task=task_text, files=entry["files"]))
        elif _assign(pr, {"task": task_text, "files": entry["files"]}):
            changed_prs.append(pr)
    PlannedPR.objects.bulk_create(new_prs)
    if changed_prs:
        PlannedPR.objects.bulk_update(changed_prs, ["task", "files"])
    prs = {(pr.batch_id, pr.number): pr for pr in PlannedPR.objects.filter(batch__plan=plan)}

    # -- gates -----------------------------------------------------------------
    existing_gates = {(g.batch_id, g.key): g for g in Gate.objects.filter(batch__plan=plan)}
    wanted_gates: dict[tuple[int, str], tuple[int, ParsedGate]] = {}
    for pb in parsed.batches:
        gates = [*pb.gates, *STANDARD_GATES]
        for position, (key, pg) in enumerate(zip(_gate_keys(gates), gates, strict=True)):
            wanted_gates[(batches[pb.number].pk, key)] = (position, pg)
    stale_gates = [g for k, g in existing_gates.items() if k not in wanted_gates]
    if stale_gates:
        with_history = SignOff.objects.filter(item__gate__in=stale_gates).values("item__gate__batch__number").first()
        if with_history:
            raise PlanImportError(
                f"Batch {with_history['item__gate__batch__number']} has a gate with sign-offs that the new plan "
                "no longer contains; sign-offs are never discarded, so restore the gate in the plan."
            )
        removed += Gate.objects.filter(pk__in=[g.pk for g in stale_gates]).delete()[0]
    new_gates, changed_gates = [], []
    gate_fields = ["kind", "label", "position", "scope", "doc_files"]
    for (batch_id, key), (position, pg) in wanted_gates.items():
        values = {
            "kind": pg.kind,
            "label": pg.label,
            "position": position,
            "scope": GateScope.BATCH if pg.pr_numbers is None else GateScope.PRS,
            "doc_files": pg.doc_files,
        }
        gate = existing_gates.get((batch_id, key))
        if gate is None:
            if pg.kind == GateKind.MANUAL:
                initial, detail = GateState.PENDING, ""
            else:
                initial, detail = GateState.NEEDS_CONFIG, NOT_CHECKED_YET
            new_gates.append(Gate(batch_id=batch_id, key=key, state=initial, detail=detail, **values))
        elif _assign(gate, values):
            changed_gates.append(gate)
    Gate.objects.bulk_create(new_gates)
    if changed_gates:
        Gate.objects.bulk_update(changed_gates, gate_fields)
    gates = {(g.batch_id, g.key): g for g in Gate.objects.filter(batch__plan=plan)}

    # Which PRs each gate covers: replace the through rows wholesale (cheap, and
    # they carry no history of their own).
    through = Gate.prs.through
    through.objects.filter(gate__batch__plan=plan).delete()
    links = []
    for (batch_id, key), (_, pg) in wanted_gates.items():
        for number in pg.pr_numbers or []:
            links.append(through(gate_id=gates[(batch_id, key)].pk, plannedpr_id=prs[(batch_id, number)].pk))
    through.objects.bulk_create(links)

    # -- checklist items (manual gates) ------------------------------------------
    existing_items = {(i.gate_id, i.key): i for i in ChecklistItem.objects.filter(gate__batch__plan=plan)}
    wanted_items = {}
    for (batch_id, key), (_, pg) in wanted_gates.items():
        if pg.kind == GateKind.MANUAL:
            wanted_items[(gates[(batch_id, key)].pk, "item-1")] = pg
    stale_items = [i for k, i in existing_items.items() if k not in wanted_items]
    if stale_items:
        counts = ChecklistItem.objects.filter(pk__in=[i.pk for i in stale_items]).annotate(n=Count("events"))
        if any(i.n for i in counts):
            raise PlanImportError("A checklist item with sign-offs is missing from the new plan; restore it.")
        removed += ChecklistItem.objects.filter(pk__in=[i.pk for i in stale_items]).delete()[0]
    new_items, changed_items = [], []
    for (gate_id, key), pg in wanted_items.items():
        item = existing_items.get((gate_id, key))
        if item is None:
            new_items.append(
                ChecklistItem(gate_id=gate_id, key=key, text=pg.label, evidence_required=pg.evidence_required)
            )
        elif _assign(item, {"text": pg.label, "evidence_required": pg.evidence_required}):
            changed_items.append(item)
    ChecklistItem.objects.bulk_create(new_items)
    if changed_items:
        ChecklistItem.objects.bulk_update(changed_items, ["text", "evidence_required"])

    return ImportSummary(
        plan=plan,
        created=created,
        batches=len(batches),
        prs=len(prs),
        gates=len(gates),
        removed=removed,
    )


def _remove_stale_batches(plan: Plan, existing: dict[int, Batch], wanted: set[int]) -> int:
    from signoffs.models import SignOff

    stale = [b for number, b in existing.items() if number not in wanted]
    if not stale:
        return 0
    kept = SignOff.objects.filter(item__gate__batch__in=stale).values_list("item__gate__batch__number", flat=True)
    kept = sorted(set(kept))
    if kept:
        raise PlanImportError(
            f"Batch {kept[0]} is missing from the new plan but has sign-offs; sign-offs are never discarded, "
            "so keep the batch in the plan."
        )
    not_planned = [b.number for b in stale if b.state != BatchState.PLANNED]
    if not_planned:
        raise PlanImportError(f"Batch {not_planned[0]} has started and cannot be removed by a re-import.")
    # Gates, PRs and checklist items go with their batch (CASCADE); the count includes them.
    return Batch.objects.filter(pk__in=[b.pk for b in stale]).delete()[0]


# -- linking a planned PR to GitHub ----------------------------------------------

PR_URL = re.compile(
    r"^https://(?P<host>[A-Za-z0-9.-]+(?::\d{1,5})?)/(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+)"
    r"/pull/(?P<number>[1-9]\d{0,9})(?:/[A-Za-z0-9/_-]*)?(?:[?#].*)?$"
)


class PullRequestLinkError(Exception):
    """The pasted text is not a pull request URL we accept. ``str()`` is for people."""


@dataclass
class PullRequestRef:
    repository: str
    number: int
    url: str


def github_web_host() -> str:
    """The web host whose PR URLs we accept: github.com, or a GitHub Enterprise host from GITHUB_API_URL."""
    host = urlparse(settings.GITHUB_API_URL).netloc
    return "github.com" if host == "api.github.com" else host


def parse_pull_request_url(text: str, *, plan: Plan) -> PullRequestRef:
    url = text.strip()
    if not url:
        raise PullRequestLinkError("Paste the pull request's URL, e.g. https://github.com/owner/repo/pull/12.")
    match = PR_URL.match(url)
    if not match:
        raise PullRequestLinkError(
            f"“{url[:200]}” is not a pull request URL; expected https://{github_web_host()}/owner/repo/pull/NUMBER."
        )
    if match["host"].lower() != github_web_host().lower():
        raise PullRequestLinkError(
            f"That URL is on {match['host']}; this Gatehouse reads pull requests from {github_web_host()}."
        )
    repository = f"{match['owner']}/{match['repo']}"
    if plan.github_repository and plan.github_repository.lower() != repository.lower():
        raise PullRequestLinkError(
            f"This plan's pull requests live in {plan.github_repository}; that URL points to {repository}."
        )
    number = int(match["number"])
    return PullRequestRef(
        repository=repository, number=number, url=f"https://{match['host']}/{repository}/pull/{number}"
    )


def planned_pr_link(*, pr: PlannedPR, url: str) -> PlannedPR:
    """Point a planned PR at a real GitHub pull request given its pasted URL.

    Linking to a different pull request forgets what was synced from the old
    one (head commit, state, merge), so no gate reads stale data meanwhile.
    Raises PullRequestLinkError, changing nothing, when the URL is not acceptable.
    """
    ref = parse_pull_request_url(url, plan=pr.batch.plan)
    if (pr.github_repository, pr.github_number) != (ref.repository, ref.number):
        for name, value in {
            "head_sha": "",
            "github_state": "",
            "draft": False,
            "merged_at": None,
            "merge_commit_sha": "",
            "changed_files": [],
            "head_committed_at": None,
            "last_synced_at": None,
        }.items():
            setattr(pr, name, value)
    pr.github_repository = ref.repository
    pr.github_number = ref.number
    pr.github_url = ref.url
    pr.save()
    return pr


class GateWaiveError(Exception):
    """The waiver was refused; nothing was written. ``str()`` is for people."""


def gate_waive(*, gate: Gate, by, reason: str) -> Gate:
    """Waive ``gate`` with a written reason, recorded in its append-only history.

    A waiver is for a gate that cannot tell the truth right now (the AI
    reviewer is rate limited or down, a provider is unreachable), so a passing
    gate has nothing to waive and a failing one is a real finding to fix.
    """
    from batches.models import GateEvent, GateEventAction

    reason = (reason or "").strip()
    if not reason:
        raise GateWaiveError("Write why the gate is being waived.")
    with transaction.atomic():
        locked = Gate.objects.select_for_update().get(pk=gate.pk)
        if locked.kind == GateKind.MANUAL:
            raise GateWaiveError("Manual gates are signed off item by item, not waived.")
        if locked.is_waived:
            raise GateWaiveError("This gate is already waived.")
        if locked.state == GateState.PASSING:
            raise GateWaiveError("This gate is passing; there is nothing to waive.")
        if locked.state == GateState.FAILING:
            raise GateWaiveError("This gate is failing: that is a finding to fix, not to waive.")
        now = timezone.now()
        Gate.objects.filter(pk=gate.pk).update(waived_at=now, waived_by=by, waiver_reason=reason)
        GateEvent.objects.create(
            gate=locked,
            action=GateEventAction.WAIVED,
            state=locked.state,
            previous_state=locked.state,
            by=by,
            reason=reason,
        )
    gate.waived_at, gate.waived_by, gate.waiver_reason = now, by, reason
    return gate
