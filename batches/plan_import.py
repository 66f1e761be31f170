"""Importing a plan document: create it, or update it in place without touching what people signed.

The one place ``batches`` reaches into ``signoffs``: a manual gate's checklist
items are created here, and a re-import that changes the words someone ticked
appends a reset to the item's history.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from batches.critical_paths import critical_path_gates_sync
from batches.models import Batch, BatchState, Gate, GateKind, GateOrigin, GateScope, GateState, Plan, PlannedPR
from batches.plan_format import ParsedBatch, ParsedGate, ParsedPlan, PlanFormatError, parse_plan
from batches.plan_settings import NOT_CHECKED_YET, implicit_gates_sync
from portal.roles import Actor


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
    # What the re-import did to sign-offs, in sentences ("Batch 2, “…”: tick reset because …").
    resets: list[str] = field(default_factory=list)
    amended: list[str] = field(default_factory=list)


def plan_slug_for(filename: str) -> str:
    stem = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return slugify(stem)[:100] or "plan"


def plan_import(
    *, source: bytes | str, slug: str, source_name: str = "", by=None, dry_run: bool = False
) -> ImportSummary:
    """Create or update the plan ``slug`` from a markdown document.

    Idempotent: importing the same document again changes nothing, and
    re-importing an edited plan updates rows in place, so sign-offs and
    evidence stay attached. An approved batch is final: a document that would
    change one is refused. A checklist item whose ticked words change (or which
    now needs evidence) is reset by an appended record, so it must be signed
    again. Runs in one transaction: on any error nothing is written, and the
    error says which line or batch is at fault. ``dry_run`` does all of it and
    rolls back, for a preview. ``by`` is the importing user, if any.
    """
    try:
        parsed = parse_plan(source)
    except PlanFormatError as exc:
        raise PlanImportError(str(exc)) from None
    raw = source.encode() if isinstance(source, str) else source
    digest = hashlib.sha256(raw).hexdigest()
    with transaction.atomic():
        summary = _PlanWriter(parsed, slug=slug, source_name=source_name, digest=digest, by=by).write()
        if dry_run:
            transaction.set_rollback(True)
    return summary


def _assign(obj, values: dict) -> bool:
    """Set ``values`` on ``obj``; True when anything differed (so unchanged rows skip the UPDATE)."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _gate_keys(gates: list[ParsedGate]) -> list[str]:
    counts: dict[str, int] = {}
    keys = []
    for gate in gates:
        counts[gate.kind] = counts.get(gate.kind, 0) + 1
        keys.append(f"{gate.kind.replace('_', '-')}-{counts[gate.kind]}")
    return keys


# -- what the document asks for, per batch -------------------------------------------


@dataclass
class _WantedBatch:
    parsed: ParsedBatch
    fields: dict
    prs: dict[int, dict] = field(default_factory=dict)  # plan PR number -> {task, files}
    gates: dict[str, dict] = field(default_factory=dict)  # gate key -> gate field values (+ "pr_numbers")
    items: dict[str, dict] = field(default_factory=dict)  # manual gate key -> its one item's values


def _wanted(pb: ParsedBatch) -> _WantedBatch:
    wanted = _WantedBatch(
        parsed=pb,
        fields={
            "title": pb.title,
            "target_pr_count": pb.target_pr_count,
            "target_date": pb.target_date,
            "goals": pb.goals,
            "key_tasks": [{"text": t.text, "pr_numbers": t.pr_numbers, "files": t.files} for t in pb.tasks],
        },
    )
    for task in pb.tasks:
        for number in task.pr_numbers:
            entry = wanted.prs.setdefault(number, {"task": [], "files": []})
            entry["task"].append(task.text)
            entry["files"].extend(f for f in task.files if f not in entry["files"])
    for entry in wanted.prs.values():
        entry["task"] = " ".join(entry["task"])
    for position, (key, pg) in enumerate(zip(_gate_keys(pb.gates), pb.gates, strict=True)):
        wanted.gates[key] = {
            "kind": pg.kind,
            "label": pg.label,
            "position": position,
            "scope": GateScope.BATCH if pg.pr_numbers is None else GateScope.PRS,
            "doc_files": pg.doc_files,
            "pr_numbers": sorted(pg.pr_numbers or []),
        }
        if pg.kind == GateKind.MANUAL:
            wanted.items[key] = {"text": pg.label, "evidence_required": pg.evidence_required}
    return wanted


GATE_FIELDS = ["kind", "label", "position", "scope", "doc_files"]


class _PlanWriter:
    """One import: loads what exists once, checks the approved batches, then writes in bulk.

    The query count does not grow with the plan's size (bench/import_plan.py).
    """

    def __init__(self, parsed: ParsedPlan, *, slug: str, source_name: str, digest: str, by: Actor | None) -> None:
        self.parsed = parsed
        self.slug = slug
        self.source_name = source_name
        self.digest = digest
        self.by = by
        self.removed = 0
        self.resets: list[str] = []
        self.amended: list[str] = []

    def write(self) -> ImportSummary:
        from signoffs.models import ChecklistItem

        plan, created = Plan.objects.select_for_update().get_or_create(
            slug=self.slug, defaults={"title": self.parsed.title}
        )
        self.plan = plan
        wanted = {pb.number: _wanted(pb) for pb in self.parsed.batches}

        existing_batches = {b.number: b for b in plan.batches.all()}
        existing_prs = list(PlannedPR.objects.filter(batch__plan=plan))
        existing_gates = list(Gate.objects.filter(batch__plan=plan, origin=GateOrigin.PLAN).prefetch_related("prs"))
        existing_items = list(
            ChecklistItem.objects.filter(gate__batch__plan=plan, gate__origin=GateOrigin.PLAN).prefetch_related(
                "events__user", "evidence"
            )
        )
        self._refuse_changes_to_approved(existing_batches, wanted, existing_prs, existing_gates, existing_items)

        for name, value in {
            "title": self.parsed.title,
            "purpose": self.parsed.purpose,
            "principles": self.parsed.principles,
            "cadence": self.parsed.cadence,
            "stakeholder_checkpoint": self.parsed.stakeholder_checkpoint,
            "metrics": self.parsed.metrics,
            "next_steps": self.parsed.next_steps,
            "max_prs_per_batch": self.parsed.max_prs_per_batch,
            # Where the plan names no paths, the release managers' list (plan settings) stays.
            **({"critical_paths": self.parsed.critical_paths} if self.parsed.critical_paths else {}),
            "source_name": self.source_name,
            "source_sha256": self.digest,
            "imported_at": timezone.now(),
        }.items():
            setattr(plan, name, value)
        plan.save()

        batches = self._write_batches(existing_batches, wanted)
        prs = self._write_prs(batches, wanted, existing_prs)
        gates = self._write_gates(batches, wanted, existing_gates)
        self._write_gate_prs(batches, wanted, gates, prs)
        self._write_items(batches, wanted, gates, existing_items)
        implicit_gates_sync(plan=plan, by=self.by)
        if plan.critical_paths:
            # The plan's own AI-review gates may now cover (or no longer cover) a critical PR.
            critical_path_gates_sync(plan=plan, by=self.by)
        return ImportSummary(
            plan=plan,
            created=created,
            batches=len(batches),
            prs=len(prs),
            gates=Gate.objects.filter(batch__plan=plan).count(),
            removed=self.removed,
            resets=self.resets,
            amended=self.amended,
        )

    # -- approved batches are final ----------------------------------------------

    def _refuse_changes_to_approved(self, existing_batches, wanted, existing_prs, existing_gates, existing_items):
        approved = {b.pk: b for b in existing_batches.values() if b.state == BatchState.APPROVED}
        if not approved:
            return
        prs_of: dict[int, dict[int, dict]] = {}
        for pr in existing_prs:
            if pr.batch_id in approved:
                prs_of.setdefault(pr.batch_id, {})[pr.number] = {"task": pr.task, "files": pr.files}
        pr_numbers = {pr.pk: pr.number for pr in existing_prs}
        gates_of: dict[int, dict[str, dict]] = {}
        for gate in existing_gates:
            if gate.batch_id in approved:
                values = {name: getattr(gate, name) for name in GATE_FIELDS}
                values["pr_numbers"] = sorted(pr_numbers[pr.pk] for pr in gate.prs.all())
                gates_of.setdefault(gate.batch_id, {})[gate.key] = values
        gate_keys = {gate.pk: (gate.batch_id, gate.key) for gate in existing_gates}
        items_of: dict[int, dict[str, dict]] = {}
        for item in existing_items:
            batch_id, gate_key = gate_keys[item.gate_id]
            if batch_id in approved:
                items_of.setdefault(batch_id, {})[gate_key] = {
                    "text": item.text,
                    "evidence_required": item.evidence_required,
                }
        for batch in sorted(approved.values(), key=lambda b: b.number):
            want = wanted.get(batch.number)
            if want is None:
                raise PlanImportError(
                    f"Batch {batch.number} is approved and the new plan leaves it out. An approved batch is final: "
                    "keep its section in the plan. Nothing was imported."
                )
            changes = [
                label
                for label, before, after in (
                    ("its title", batch.title, want.fields["title"]),
                    ("its target PR count", batch.target_pr_count, want.fields["target_pr_count"]),
                    # A milestone may be added to an approved batch, never moved: the roadmap compares against it.
                    ("its target date", batch.target_date, want.fields["target_date"] if batch.target_date else None),
                    ("its goals", batch.goals, want.fields["goals"]),
                    ("its key tasks", batch.key_tasks, want.fields["key_tasks"]),
                    ("its planned PRs", prs_of.get(batch.pk, {}), want.prs),
                    ("its readiness gates", gates_of.get(batch.pk, {}), want.gates),
                    ("its checklist", items_of.get(batch.pk, {}), want.items),
                )
                if before != after
            ]
            if changes:
                raise PlanImportError(
                    f"Batch {batch.number} is approved, and the new plan changes {_and(changes)}. An approved batch "
                    "is final: put its section back as it was approved, and plan the change in a later batch. "
                    "Nothing was imported."
                )

    # -- rows --------------------------------------------------------------------

    def _write_batches(self, existing: dict[int, Batch], wanted: dict[int, _WantedBatch]) -> dict[int, Batch]:
        self.removed += _remove_stale_batches(self.plan, existing, set(wanted))
        new_batches, changed_batches = [], []
        for number, want in wanted.items():
            batch = existing.get(number)
            if batch is None:
                new_batches.append(Batch(plan=self.plan, number=number, **want.fields))
            elif _assign(batch, want.fields):
                changed_batches.append(batch)
        Batch.objects.bulk_create(new_batches)
        if changed_batches:
            Batch.objects.bulk_update(
                changed_batches, ["title", "target_pr_count", "target_date", "goals", "key_tasks"]
            )
        return {b.number: b for b in self.plan.batches.all()}

    def _write_prs(self, batches, wanted, existing_prs) -> dict[tuple[int, int], PlannedPR]:
        existing = {(pr.batch_id, pr.number): pr for pr in existing_prs}
        wanted_prs = {
            (batches[number].pk, pr_number): entry
            for number, want in wanted.items()
            for pr_number, entry in want.prs.items()
        }
        stale = [pr.pk for key, pr in existing.items() if key not in wanted_prs]
        self.removed += PlannedPR.objects.filter(pk__in=stale).delete()[0] if stale else 0
        new_prs, changed_prs = [], []
        for (batch_id, number), entry in wanted_prs.items():
            pr = existing.get((batch_id, number))
            if pr is None:
                new_prs.append(PlannedPR(batch_id=batch_id, number=number, task=entry["task"], files=entry["files"]))
            elif _assign(pr, {"task": entry["task"], "files": entry["files"]}):
                changed_prs.append(pr)
        PlannedPR.objects.bulk_create(new_prs)
        if changed_prs:
            PlannedPR.objects.bulk_update(changed_prs, ["task", "files"])
        return {(pr.batch_id, pr.number): pr for pr in PlannedPR.objects.filter(batch__plan=self.plan)}

    def _write_gates(self, batches, wanted, existing_gates) -> dict[tuple[int, str], Gate]:
        from signoffs.itemstate import ItemState, checklist_progress
        from signoffs.models import SignOff
        from signoffs.services import CHECKLIST_SOURCE

        now = timezone.now()

        def fresh_checklist(item_values: dict) -> dict:
            # A new manual gate gets one new item with no history (below): its verdict is known now.
            item = ItemState(history=[], state_event=None, current_evidence=[], **item_values)
            detail = checklist_progress([item]).sentence()
            return {
                "state": GateState.PENDING,
                "detail": detail,
                "source": CHECKLIST_SOURCE,
                "last_checked_at": now,
                "changed_at": now,
            }

        item_values = {
            (batches[number].pk, key): {"evidence_required": values["evidence_required"]}
            for number, want in wanted.items()
            for key, values in want.items.items()
        }

        existing = {(g.batch_id, g.key): g for g in existing_gates}
        wanted_gates = {
            (batches[number].pk, key): values for number, want in wanted.items() for key, values in want.gates.items()
        }
        stale = [g for key, g in existing.items() if key not in wanted_gates]
        if stale:
            with_history = SignOff.objects.filter(item__gate__in=stale).values("item__gate__batch__number").first()
            if with_history:
                raise PlanImportError(
                    f"Batch {with_history['item__gate__batch__number']} has a gate with sign-offs that the new plan "
                    "no longer contains; sign-offs are never discarded, so restore the gate in the plan."
                )
            self.removed += Gate.objects.filter(pk__in=[g.pk for g in stale]).delete()[0]
        new_gates, changed_gates = [], []
        for (batch_id, key), values in wanted_gates.items():
            row = {name: values[name] for name in GATE_FIELDS}
            gate = existing.get((batch_id, key))
            if gate is None:
                if values["kind"] == GateKind.MANUAL:
                    initial = fresh_checklist(item_values[(batch_id, key)])
                else:
                    initial = {"state": GateState.NEEDS_CONFIG, "detail": NOT_CHECKED_YET}
                new_gates.append(Gate(batch_id=batch_id, key=key, **initial, **row))
            elif _assign(gate, row):
                changed_gates.append(gate)
        Gate.objects.bulk_create(new_gates)
        if changed_gates:
            Gate.objects.bulk_update(changed_gates, GATE_FIELDS)
        return {(g.batch_id, g.key): g for g in Gate.objects.filter(batch__plan=self.plan, origin=GateOrigin.PLAN)}

    def _write_gate_prs(self, batches, wanted, gates, prs) -> None:
        # Which PRs each gate covers: replace the through rows wholesale (cheap, and
        # they carry no history of their own).
        through = Gate.prs.through
        through.objects.filter(gate__batch__plan=self.plan, gate__origin=GateOrigin.PLAN).delete()
        links = []
        for number, want in wanted.items():
            batch_id = batches[number].pk
            for key, values in want.gates.items():
                for pr_number in values["pr_numbers"]:
                    links.append(through(gate_id=gates[(batch_id, key)].pk, plannedpr_id=prs[(batch_id, pr_number)].pk))
        through.objects.bulk_create(links)

    def _write_items(self, batches, wanted, gates, existing_items) -> None:
        from signoffs.itemstate import item_state
        from signoffs.models import ChecklistItem, SignOff
        from signoffs.services import manual_gate_refresh

        existing = {(i.gate_id, i.key): i for i in existing_items}
        wanted_items = {}
        for number, want in wanted.items():
            for gate_key, values in want.items.items():
                wanted_items[(gates[(batches[number].pk, gate_key)].pk, "item-1")] = (number, values)
        stale = [i for key, i in existing.items() if key not in wanted_items]
        if stale:
            if any(item.events.all() for item in stale):
                raise PlanImportError("A checklist item with sign-offs is missing from the new plan; restore it.")
            self.removed += ChecklistItem.objects.filter(pk__in=[i.pk for i in stale]).delete()[0]

        new_items, changed_items, records, refresh = [], [], [], set()
        for (gate_id, key), (number, values) in wanted_items.items():
            item = existing.get((gate_id, key))
            if item is None:
                new_items.append(ChecklistItem(gate_id=gate_id, key=key, **values))
                continue
            record = self._item_change_record(number, item, values, item_state(item))
            if record is not None:
                records.append(record)
                refresh.add(gate_id)
            if _assign(item, values):
                changed_items.append(item)
                refresh.add(gate_id)
        ChecklistItem.objects.bulk_create(new_items)
        if changed_items:
            ChecklistItem.objects.bulk_update(changed_items, ["text", "evidence_required"])
        if records:
            # The items' rows are locked so a tick landing now cannot take a sequence number twice.
            list(ChecklistItem.objects.select_for_update().filter(pk__in=[r.item_id for r in records]))
            SignOff.objects.bulk_create(records)
        for gate_id in sorted(refresh):
            manual_gate_refresh(gate_id=gate_id)

    def _item_change_record(self, number: int, item, values: dict, state):
        """The history record a changed item gets (None when nothing people signed is affected)."""
        from signoffs.models import SignOff

        text_changed = item.text != values["text"]
        evidence_on = values["evidence_required"] and not item.evidence_required
        evidence_off = item.evidence_required and not values["evidence_required"]
        if not (text_changed or evidence_on or evidence_off) or not state.history:
            return None
        reasons = []
        if text_changed:
            reasons.append(f"the text changed from “{item.text}” to “{values['text']}”")
        if evidence_on:
            reasons.append("a screenshot is now required")
        if evidence_off:
            reasons.append("a screenshot is no longer required")
        reason = _and(reasons)
        where = f"Batch {number}, “{_short(values['text'])}”"
        if state.ticked and (text_changed or evidence_on):
            action, note = SignOff.Action.RESET, f"Reset by plan re-import: {reason}. Sign it again."
            self.resets.append(f"{where}: the tick was reset because {reason}.")
        else:
            action, note = SignOff.Action.AMENDED, f"Plan re-import: {reason}."
            self.amended.append(f"{where}: {reason}.")
        sequence = max(e.sequence for e in state.history) + 1
        return SignOff(item=item, sequence=sequence, action=action, user=self.by, note=note)


def _remove_stale_batches(plan: Plan, existing: dict[int, Batch], wanted: set[int]) -> int:
    from signoffs.models import SignOff

    stale = [b for number, b in existing.items() if number not in wanted]
    if not stale:
        return 0
    kept = sorted(
        set(SignOff.objects.filter(item__gate__batch__in=stale).values_list("item__gate__batch__number", flat=True))
    )
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


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
