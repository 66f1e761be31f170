from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from batches.models import Batch, Gate, GateKind, GateScope, Plan, PlannedPR
from batches.plan_import import PlanImportError, plan_import
from signoffs.itemstate import item_state
from signoffs.models import ChecklistItem, SignOff
from signoffs.services import signoff_record
from tests.conftest import SAMPLE_PLAN

MODELS = (Plan, Batch, PlannedPR, Gate, ChecklistItem, SignOff)


def snapshot():
    """Every row the importer can touch, as comparable values."""
    return {
        model.__name__: sorted(
            tuple(sorted((k, str(v)) for k, v in row.items() if k not in ("imported_at", "updated_at")))
            for row in model.objects.values()
        )
        for model in MODELS
    } | {"gate_prs": sorted(Gate.prs.through.objects.values_list("gate_id", "plannedpr_id"))}


def test_sample_plan_has_four_batches_with_ten_prs(sample_plan):
    batches = list(sample_plan.batches.order_by("number"))
    assert [b.number for b in batches] == [1, 2, 3, 4]
    assert [b.prs.count() for b in batches] == [2, 3, 3, 2]
    assert [b.target_pr_count for b in batches] == [2, 3, 3, 2]
    assert PlannedPR.objects.filter(batch__plan=sample_plan).count() == 10
    assert batches[0].title == "Backend Reliability & Options Routing"


@pytest.mark.parametrize(
    ("number", "ai_prs", "ci_label", "manual_text", "evidence"),
    [
        (1, [1, 2], "pytest backend/tests/test_options_endpoint.py", "Options expiration dropdown populates", False),
        (2, [3, 5], "./test-deployment.sh", "Ops to capture screenshots of Sentry + Render dashboards", True),
        (3, [7, 8], "npm run test:ci", "Mobile Safari + Chrome DevTools responsive audit", False),
        (
            4,
            [9, 10],
            "Backend unit tests + frontend snapshot tests",
            "Review new telemetry events in Redis/Sentry",
            False,
        ),
    ],
)
def test_gates_land_where_the_plan_puts_them(sample_plan, number, ai_prs, ci_label, manual_text, evidence):
    batch = sample_plan.batches.get(number=number)
    ci = batch.gates.get(kind=GateKind.CI)
    assert ci.label == ci_label
    assert ci.scope == GateScope.BATCH
    ai = batch.gates.get(kind=GateKind.AI_REVIEW)
    assert ai.scope == GateScope.PRS
    assert sorted(ai.prs.values_list("number", flat=True)) == ai_prs
    manual = batch.gates.get(kind=GateKind.MANUAL)
    item = manual.items.get()
    assert item.text.startswith(manual_text)
    assert item.evidence_required is evidence


def test_new_automated_gates_say_they_are_not_checked_yet(sample_plan):
    gates = Gate.objects.filter(batch__plan=sample_plan)
    automated = gates.exclude(kind=GateKind.MANUAL)
    assert {g.state for g in automated} == {"needs_config"}
    assert all(g.detail.startswith("Not checked yet") for g in automated)
    assert {g.state for g in gates.filter(kind=GateKind.MANUAL)} == {"pending"}


def test_key_tasks_keep_pr_numbers_and_files(sample_plan):
    batch = sample_plan.batches.get(number=2)
    pr4 = batch.prs.get(number=4)
    assert pr4.files == ["DEPLOYMENT_STATUS.md", "STATE_OF_AFFAIRS_REPORT.md"]
    assert [t["pr_numbers"] for t in batch.key_tasks] == [[3], [4], [5]]
    docs = batch.gates.get(kind=GateKind.DOCS)
    assert docs.doc_files == ["DEPLOYMENT_STATUS.md", "STATE_OF_AFFAIRS_REPORT.md"]
    # The other batches name no documentation files, so they get no docs gate.
    assert not Gate.objects.filter(kind=GateKind.DOCS).exclude(batch=batch).exists()


def test_plan_level_sections_are_captured(sample_plan):
    assert sample_plan.title == "Strategic Batch Delivery Plan (October 2025 Refresh)"
    assert [p["title"] for p in sample_plan.principles] == [
        "Stability First",
        "AI-Assisted Review",
        "Tight Feedback Loops",
        "Documentation Parity",
    ]
    assert sample_plan.max_prs_per_batch == 3
    assert sample_plan.cadence.startswith("Deliver sequentially; do not start Batch N+1")
    assert "PRODUCTION_DEPLOYMENT_GUIDE.md" in sample_plan.stakeholder_checkpoint
    assert sample_plan.metrics == ["cycle time", "escaped defects", "Claude reviewer findings"]
    assert len(sample_plan.next_steps) == 3


def test_reimport_is_idempotent(sample_plan, sample_plan_source):
    before = snapshot()
    summary = plan_import(source=sample_plan_source, slug=sample_plan.slug, source_name=SAMPLE_PLAN.name)
    assert summary.created is False
    assert snapshot() == before


def test_signoff_survives_reimport(sample_plan, sample_plan_source, engineer):
    item = ChecklistItem.objects.get(gate__batch__number=1)
    signoff_record(item=item, user=engineer, action="tick", note="Checked on staging")
    edited = sample_plan_source.replace(b"Harden backend router registration", b"Harden the router registration")
    plan_import(source=edited, slug=sample_plan.slug)
    item.refresh_from_db()
    assert item_state(item).ticked
    assert SignOff.objects.get().note == "Checked on staging"
    assert "Harden the router registration" in sample_plan.batches.get(number=1).goals[1]


def test_removing_a_gate_with_signoffs_is_refused(sample_plan, sample_plan_source, engineer):
    item = ChecklistItem.objects.get(gate__batch__number=3)
    signoff_record(item=item, user=engineer, action="tick")
    before = snapshot()
    edited = sample_plan_source.replace(b"  - Manual: Mobile Safari + Chrome DevTools responsive audit.\n", b"")
    with pytest.raises(PlanImportError, match="sign-offs"):
        plan_import(source=edited, slug=sample_plan.slug)
    assert snapshot() == before


def _edit(source: bytes, old: bytes, new: bytes) -> bytes:
    assert old in source
    return source.replace(old, new)


MALFORMED = {
    "empty": (lambda s: b"", "the file is empty"),
    "whitespace": (lambda s: b"  \n\n ", "the file is empty"),
    "binary": (lambda s: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
    "latin1": (lambda s: "# Plan\n\nCaf\xe9 plan".encode("latin-1"), "Line 3: the file is not UTF-8"),
    "no batches": (lambda s: b"# A plan\n\n## Purpose\nNothing yet.\n", "the plan has no batches"),
    "no title": (lambda s: s.replace(b"# Strategic Batch Delivery Plan (October 2025 Refresh)\n", b""), "no title"),
    "over cap": (
        lambda s: _edit(s, b"Workflow Enhancements (Target: 3 PRs)", b"Workflow Enhancements (Target: 4 PRs)"),
        "Line 37: Batch 3 targets 4 PRs; the plan allows at most 3",
    ),
    "too many PRs named": (
        lambda s: _edit(
            s,
            b"  - TradingView widget embed + responsive refactor in `frontend/pages/index.tsx` (PR #8).\n",
            b"  - TradingView widget embed + responsive refactor in `frontend/pages/index.tsx` (PR #8).\n"
            b"  - Extra work (PR #11).\n",
        ),
        "Line 37: Batch 3 names 4 PRs (#6, #7, #8, #11); the plan allows at most 3",
    ),
    "gate names a foreign PR": (
        lambda s: _edit(s, b"Required for PRs #3 and #5.", b"Required for PRs #3 and #6."),
        "Line 35: the gate names PR #6, which is not a PR of Batch 2 (its PRs: #3, #4, #5)",
    ),
    "unknown gate kind": (
        lambda s: _edit(s, b"  - Manual: Mobile Safari", b"  - Vibes: Mobile Safari"),
        "Line 47: unknown readiness gate",
    ),
    "bad batch heading": (
        lambda s: _edit(s, b"## Batch 4 \xe2\x80\x93 AI", b"## Batch four \xe2\x80\x93 AI"),
        "Line 50: a batch heading must read",
    ),
    "duplicate batch": (
        lambda s: _edit(s, b"## Batch 4 \xe2\x80\x93 AI", b"## Batch 3 \xe2\x80\x93 AI"),
        "Line 50: Batch 3 appears twice (first on line 37)",
    ),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_input_names_the_problem_and_writes_nothing(sample_plan, sample_plan_source, case):
    make, message = MALFORMED[case]
    before = snapshot()
    with pytest.raises(PlanImportError) as excinfo:
        plan_import(source=make(sample_plan_source), slug=sample_plan.slug)
    assert message in str(excinfo.value)
    assert snapshot() == before


def test_failed_first_import_leaves_no_plan(db, sample_plan_source):
    broken = _edit(sample_plan_source, b"Required for PR #7 and #8.", b"Required for PR #7 and #2.")
    with pytest.raises(PlanImportError, match="PR #2"):
        plan_import(source=broken, slug="fresh")
    assert not Plan.objects.exists()
    assert not Batch.objects.exists()


def test_plan_can_set_its_own_pr_cap(db, sample_plan_source):
    edited = _edit(sample_plan_source, b"Keep each batch <= 3 deployable PRs", b"Keep each batch <= 4 deployable PRs")
    edited = _edit(edited, b"Workflow Enhancements (Target: 3 PRs)", b"Workflow Enhancements (Target: 4 PRs)")
    plan = plan_import(source=edited, slug="four").plan
    assert plan.max_prs_per_batch == 4
    assert plan.batches.get(number=3).target_pr_count == 4


def test_command_imports_and_reports(db, capsys):
    call_command("import_plan", str(SAMPLE_PLAN))
    assert (
        "Imported “Strategic Batch Delivery Plan (October 2025 Refresh)” as batch-plan-2025-10"
        in capsys.readouterr().out
    )
    call_command("import_plan", str(SAMPLE_PLAN))
    assert "Updated" in capsys.readouterr().out
    assert Batch.objects.count() == 4


def test_dry_run_reports_what_the_import_does_and_writes_nothing(db, sample_plan_source):
    dry = plan_import(source=sample_plan_source, slug="fresh", source_name=SAMPLE_PLAN.name, dry_run=True)
    assert (dry.created, dry.batches, dry.prs, dry.gates, dry.removed) == (True, 4, 10, 13, 0)
    assert snapshot() == {name: [] for name in snapshot()}
    real = plan_import(source=sample_plan_source, slug="fresh", source_name=SAMPLE_PLAN.name)
    assert (real.created, real.batches, real.prs, real.gates, real.removed) == (True, 4, 10, 13, 0)


def test_dry_run_of_a_reimport_rolls_back_its_updates_and_removals(sample_plan, sample_plan_source):
    before = snapshot()
    edited = _edit(sample_plan_source, b"Harden backend router registration", b"Harden the router")
    cut, end = edited.index(b"## Batch 4"), edited.index(b"## Batch Governance")
    summary = plan_import(source=edited[:cut] + edited[end:], slug=sample_plan.slug, dry_run=True)
    assert (summary.created, summary.batches) == (False, 3)
    assert summary.removed > 1
    assert snapshot() == before


def test_dry_run_refuses_what_the_import_refuses(sample_plan, sample_plan_source, engineer):
    signoff_record(item=ChecklistItem.objects.get(gate__batch__number=4), user=engineer, action="tick")
    before = snapshot()
    cut, end = sample_plan_source.index(b"## Batch 4"), sample_plan_source.index(b"## Batch Governance")
    with pytest.raises(PlanImportError, match="Batch 4 is missing from the new plan but has sign-offs"):
        plan_import(source=sample_plan_source[:cut] + sample_plan_source[end:], slug=sample_plan.slug, dry_run=True)
    assert snapshot() == before


def test_command_dry_run_prints_the_preview_and_writes_nothing(db, capsys):
    call_command("import_plan", str(SAMPLE_PLAN), "--dry-run")
    out = capsys.readouterr().out
    assert out.startswith("New plan “Strategic Batch Delivery Plan (October 2025 Refresh)” as batch-plan-2025-10\n")
    assert "4 batches, 10 planned PRs, 13 gates; at most 3 PRs per batch\n" in out
    assert "Batch 2 – Deployment & Observability Hardening (target 3 PRs)\n" in out
    assert "  PR #4: Dashboard updates in DEPLOYMENT_STATUS.md and STATE_OF_AFFAIRS_REPORT.md (PR #4).\n" in out
    assert "  AI review: Required for PRs #3 and #5\n  Docs: Documentation updates merged:" in out
    assert "  AI review covers: PRs #3 and #5\n" in out
    assert out.endswith("Dry run: nothing was written.\n")
    assert not Plan.objects.exists()
    call_command("import_plan", str(SAMPLE_PLAN))
    assert capsys.readouterr().out.startswith("Imported")
    before = snapshot()
    call_command("import_plan", str(SAMPLE_PLAN), "--dry-run")
    assert capsys.readouterr().out.splitlines()[0] == (
        "Re-import of “Strategic Batch Delivery Plan (October 2025 Refresh)” (batch-plan-2025-10): "
        "updated in place, sign-offs kept"
    )
    assert snapshot() == before


def test_command_dry_run_error_is_one_clear_line(db, tmp_path):
    path = tmp_path / "plan.md"
    path.write_text("# Plan\n\n##Batch 1 – One (Target: 1 PRs)\n")
    with pytest.raises(CommandError, match=r"^plan\.md: Line 3: the plan has no batches: “##Batch 1"):
        call_command("import_plan", str(path), "--dry-run")
    assert not Plan.objects.exists()


def test_command_error_is_one_clear_line(db, tmp_path):
    path = tmp_path / "empty.md"
    path.write_bytes(b"")
    with pytest.raises(CommandError, match=r"^empty\.md: the file is empty$"):
        call_command("import_plan", str(path))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_plan", str(tmp_path / "missing.md"))


plan_like_text = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=400),
    st.lists(
        st.sampled_from(
            [
                "# Title",
                "## Batch 1 – One (Target: 2 PRs)",
                "## Batch 2 – Two (Target: 9 PRs)",
                "## Batch x",
                "- **Goals**",
                "- **Key Tasks**",
                "  - Do it (PR #1).",
                "  - Do more in `docs/A.md` (PR #2).",
                "- **Readiness Gates**",
                "  - CI: `make test`.",
                "  - Manual: Screenshot the dashboard.",
                "  - Claude Review: Required for both PRs.",
                "  - Claude Review: Required for PRs #1 and #7.",
                "  - Docs: `README.md`",
                "  - Nonsense: here",
                "## Batch Governance",
                "",
            ]
        ),
        max_size=25,
    ).map("\n".join),
)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=plan_like_text)
def test_arbitrary_input_imports_fully_or_not_at_all(db, source):
    Plan.objects.all().delete()
    try:
        summary = plan_import(source=source, slug="fuzz")
    except PlanImportError as exc:
        assert str(exc)
        assert not Plan.objects.exists()
        assert not Batch.objects.exists()
    else:
        assert summary.batches == Batch.objects.count() >= 1
        assert all(b.gates.exists() for b in Batch.objects.all())


def test_reimport_without_a_batch_removes_it_with_its_gates_and_prs(sample_plan, sample_plan_source):
    cut = sample_plan_source.index(b"## Batch 4")
    end = sample_plan_source.index(b"## Batch Governance")
    summary = plan_import(source=sample_plan_source[:cut] + sample_plan_source[end:], slug=sample_plan.slug)
    assert summary.batches == 3
    assert summary.removed > 1  # the batch and what cascaded with it
    assert not Batch.objects.filter(number=4).exists()
    assert not PlannedPR.objects.filter(number__in=[9, 10]).exists()
    assert not Gate.objects.filter(batch__number=4).exists()


def test_reimport_refuses_to_remove_a_batch_with_signoffs(sample_plan, sample_plan_source, engineer):
    signoff_record(item=ChecklistItem.objects.get(gate__batch__number=4), user=engineer, action="tick")
    before = snapshot()
    cut = sample_plan_source.index(b"## Batch 4")
    end = sample_plan_source.index(b"## Batch Governance")
    with pytest.raises(PlanImportError, match="Batch 4 is missing from the new plan but has sign-offs"):
        plan_import(source=sample_plan_source[:cut] + sample_plan_source[end:], slug=sample_plan.slug)
    assert snapshot() == before


# -- implicit gates come from the plan's settings -----------------------------------------


def test_a_plan_without_render_or_sentry_gets_no_deploy_or_observability_gates(sample_plan):
    kinds = set(Gate.objects.filter(batch__plan=sample_plan).values_list("kind", flat=True))
    assert kinds == {GateKind.CI, GateKind.MANUAL, GateKind.AI_REVIEW, GateKind.DOCS}


def test_new_manual_gates_start_from_their_checklist(sample_plan):
    manual = Gate.objects.get(batch__plan=sample_plan, batch__number=2, kind=GateKind.MANUAL)
    assert (manual.state, manual.source) == ("pending", "Manual checklist")
    assert manual.detail == "0 of 1 item ticked; 1 still needs a screenshot."
    assert manual.last_checked_at is not None


# -- re-import never rewrites what people signed ---------------------------------------------

ITEM_1 = b"Options expiration dropdown populates in `frontend/components/OptionsChain.tsx` via staging deployment."


def test_reimport_that_changes_an_approved_batch_is_refused_and_writes_nothing(journey, sample_plan_source):
    journey.approve(journey.batch(1))
    before = snapshot()
    edits = {
        "its title": (b"Backend Reliability & Options Routing", b"Backend Reliability"),
        "its goals": (b"Harden backend router registration", b"Harden router registration"),
        "its readiness gates": (b"on both PRs.", b"on PR #1."),
        # A manual gate's one item is its text: both change.
        "its readiness gates and its checklist": (ITEM_1, b"Options dropdown works on staging."),
    }
    for what, (old, new) in edits.items():
        with pytest.raises(PlanImportError) as excinfo:
            plan_import(source=_edit(sample_plan_source, old, new), slug=journey.plan.slug)
        assert str(excinfo.value).startswith(f"Batch 1 is approved, and the new plan changes {what}.")
        assert "Nothing was imported." in str(excinfo.value)
        assert snapshot() == before
    # Batch 2 is not approved: the same kind of edit there goes through.
    plan_import(source=_edit(sample_plan_source, b"Finalize Render", b"Complete Render"), slug=journey.plan.slug)
    assert journey.batch(2).goals[0].startswith("Complete Render")


def test_reimport_resets_a_tick_whose_words_changed(sample_plan, sample_plan_source, engineer, release_manager):
    batch = sample_plan.batches.get(number=1)
    batch.start(by=release_manager)
    item = ChecklistItem.objects.get(gate__batch=batch)
    signoff_record(item=item, user=engineer, action="tick")
    manual = item.gate
    manual.refresh_from_db()
    assert manual.state == "passing"
    summary = plan_import(
        source=_edit(sample_plan_source, ITEM_1, b"Options dropdown shows six expiries on staging."),
        slug=sample_plan.slug,
        by=release_manager,
    )
    item.refresh_from_db()
    assert item.text == "Options dropdown shows six expiries on staging"
    reset = item.events.order_by("sequence").last()
    assert (reset.action, reset.user) == (SignOff.Action.RESET, release_manager)
    assert reset.note.startswith("Reset by plan re-import: the text changed from “Options expiration dropdown")
    assert not item_state(item).ticked
    manual.refresh_from_db()
    assert manual.state == "pending"  # sign it again
    assert manual.events.last().previous_state == "passing"
    assert summary.resets == [
        "Batch 1, “Options dropdown shows six expiries on staging”: the tick was reset because the text changed "
        "from “Options expiration dropdown populates in frontend/components/OptionsChain.tsx via staging "
        "deployment” to “Options dropdown shows six expiries on staging”."
    ]


def test_reimport_resets_a_tick_when_evidence_becomes_required(sample_plan, sample_plan_source, engineer):
    item = ChecklistItem.objects.get(gate__batch__plan=sample_plan, gate__batch__number=3)
    signoff_record(item=item, user=engineer, action="tick")
    plan_import(
        source=_edit(
            sample_plan_source, b"Chrome DevTools responsive audit.", b"Chrome DevTools audit with screenshots."
        ),
        slug=sample_plan.slug,
    )
    item.refresh_from_db()
    assert item.evidence_required
    reset = item.events.order_by("sequence").last()
    assert (reset.action, reset.user) == (SignOff.Action.RESET, None)  # from the command line: no person
    assert "a screenshot is now required" in reset.note
    assert not item_state(item).ticked


def test_switching_evidence_off_is_recorded_with_the_reset(sample_plan, sample_plan_source, ops, engineer):
    """The requirement comes from the item's words, so dropping it changes them: the tick is reset, saying both."""
    from signoffs.evidence import evidence_add
    from tests.journey import screenshot

    item = ChecklistItem.objects.get(gate__batch__plan=sample_plan, gate__batch__number=2)
    evidence_add(item=item, upload=screenshot(), by=ops)
    signoff_record(item=item, user=engineer, action="tick")
    plan_import(
        source=_edit(
            sample_plan_source,
            b"Ops to capture screenshots of Sentry + Render dashboards.",
            b"Ops to check Sentry + Render dashboards.",
        ),
        slug=sample_plan.slug,
    )
    item.refresh_from_db()
    assert not item.evidence_required
    record = item.events.order_by("sequence").last()
    assert record.action == SignOff.Action.RESET
    assert record.note.endswith("and a screenshot is no longer required. Sign it again.")
    assert item.evidence.count() == 1  # the screenshot stays in the history


def test_an_unticked_item_with_history_gets_an_amended_record(sample_plan, sample_plan_source, engineer):
    item = ChecklistItem.objects.get(gate__batch__plan=sample_plan, gate__batch__number=1)
    signoff_record(item=item, user=engineer, action="note", note="Dropdown empty on staging")
    summary = plan_import(source=_edit(sample_plan_source, ITEM_1, b"Options dropdown works."), slug=sample_plan.slug)
    record = item.events.order_by("sequence").last()
    assert record.action == SignOff.Action.AMENDED
    assert record.note.startswith("Plan re-import: the text changed from “Options expiration")
    assert len(summary.amended) == 1
    assert summary.resets == []


def test_unchanged_items_get_no_records(sample_plan, sample_plan_source, engineer):
    item = ChecklistItem.objects.get(gate__batch__plan=sample_plan, gate__batch__number=1)
    signoff_record(item=item, user=engineer, action="tick")
    summary = plan_import(source=sample_plan_source, slug=sample_plan.slug)
    assert item.events.count() == 1
    assert (summary.resets, summary.amended) == ([], [])


def test_dry_run_rolls_everything_back(sample_plan, sample_plan_source, engineer):
    item = ChecklistItem.objects.get(gate__batch__plan=sample_plan, gate__batch__number=1)
    signoff_record(item=item, user=engineer, action="tick")
    before = snapshot()
    summary = plan_import(
        source=_edit(sample_plan_source, ITEM_1, b"Something else entirely."), slug=sample_plan.slug, dry_run=True
    )
    assert len(summary.resets) == 1
    assert snapshot() == before


BATCH_1_HEADING = b"## Batch 1 \xe2\x80\x93 Backend Reliability & Options Routing (Target: 2 PRs)\n"


def _dated(source: bytes, day: str) -> bytes:
    return source.replace(BATCH_1_HEADING, BATCH_1_HEADING + f"- **Target date** \u2013 {day}\n".encode())


def test_a_milestone_may_be_added_to_an_approved_batch_but_never_moved(journey, sample_plan_source):
    journey.approve(journey.batch(1))
    plan_import(source=_dated(sample_plan_source, "2025-11-14"), slug=journey.plan.slug)
    assert str(journey.batch(1).target_date) == "2025-11-14"
    before = snapshot()
    for source in (_dated(sample_plan_source, "2025-12-01"), sample_plan_source):
        with pytest.raises(PlanImportError, match=r"Batch 1 is approved, and the new plan changes its target date\."):
            plan_import(source=source, slug=journey.plan.slug)
        assert snapshot() == before
    assert str(journey.batch(1).target_date) == "2025-11-14"
