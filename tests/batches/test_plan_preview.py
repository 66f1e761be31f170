"""The import preview: what it says about a plan, and that building it writes nothing."""

from __future__ import annotations

import pytest

from batches.plan_import import PlanImportError, plan_import
from batches.plan_preview import plan_import_preview, prs_text
from batches.plan_settings import plan_configure
from signoffs.models import ChecklistItem
from signoffs.services import signoff_record
from tests.batches.test_import_plan import snapshot

PLAN = """# Small plan

## Batch 1 – One (Target: 2 PRs)
- **Key Tasks**
  - First (PR #1).
  - Second, which also finishes #1 (PR #2, #1).
- **Readiness Gates**
  - CI: `make test`.
  - AI Review: Required.

## Batch 2 – Two (Target: 1 PR)
- **Key Tasks**
  - Third (PR #3).
- **Readiness Gates**
  - Manual: Check the dashboard.
"""


def test_scope_and_task_texts(db):
    preview = plan_import_preview(source=PLAN, slug="small", source_name="small.md")
    one, two = preview.batches
    assert one.ai_review_scope == "the whole batch"
    assert two.ai_review_scope == "no AI-review gate"
    assert [(pr.number, pr.task) for pr in one.prs] == [
        (1, "First (PR #1). Second, which also finishes #1 (PR #2, #1)."),
        (2, "Second, which also finishes #1 (PR #2, #1)."),
    ]
    assert [(g.kind_label, g.label, g.from_settings) for g in one.gates] == [
        ("CI", "make test", False),
        ("AI review", "Required", False),
    ]
    assert (preview.created, preview.prs, preview.gates, preview.removed) == (True, 3, 3, 0)
    assert snapshot() == {name: [] for name in snapshot()}


def test_gates_the_plan_settings_add_are_shown_as_such(db, release_manager):
    plan = plan_import(source=PLAN, slug="small").plan
    plan_configure(plan=plan, by=release_manager, values={"render_service_ids": ["srv-abc"]})
    before = snapshot()
    preview = plan_import_preview(source=PLAN.replace("Required.", "Required for PR #2."), slug="small")
    assert [(g.kind_label, g.label, g.from_settings) for g in preview.batches[1].gates] == [
        ("Manual", "Check the dashboard", False),
        ("Deploy", "Render deploy of the batch is live", True),
    ]
    assert preview.batches[0].ai_review_scope == "PR #2"
    assert "  Deploy: Render deploy of the batch is live (plan settings)" in preview.lines()
    assert snapshot() == before


def test_ticks_a_reimport_would_reset_are_listed(db, engineer):
    plan_import(source=PLAN, slug="small")
    item = ChecklistItem.objects.get()
    signoff_record(item=item, user=engineer, action="tick")
    before = snapshot()
    preview = plan_import_preview(source=PLAN.replace("Check the dashboard", "Check both dashboards"), slug="small")
    assert len(preview.resets) == 1
    assert preview.resets[0].startswith("Batch 2, “Check both dashboards”: the tick was reset because")
    assert preview.lines()[2].startswith("Resets: Batch 2")
    assert snapshot() == before


def test_a_renamed_reimport_says_both_names(db):
    plan_import(source=PLAN, slug="small")
    before = snapshot()
    preview = plan_import_preview(source=PLAN.replace("# Small plan", "# Smaller plan"), slug="small")
    assert (
        preview.lines()[0]
        == "Re-import of “Small plan” (small), renamed “Smaller plan”: updated in place, sign-offs kept"
    )
    assert snapshot() == before


def test_a_refused_plan_raises_the_import_error(db):
    with pytest.raises(PlanImportError, match=r"^Line 1: the plan has no title"):
        plan_import_preview(source="## Batch 1 – One (Target: 1 PR)\n", slug="x")


@pytest.mark.parametrize(
    ("numbers", "text"), [([7], "PR #7"), ([3, 5], "PRs #3 and #5"), ([6, 7, 8], "PRs #6, #7 and #8")]
)
def test_prs_text(numbers, text):
    assert prs_text(numbers) == text


def test_a_batchs_target_date_is_previewed(db):
    dated = PLAN.replace(
        "## Batch 2 – Two (Target: 1 PR)\n", "## Batch 2 – Two (Target: 1 PR)\n- **Due**: 2025-11-14\n"
    )
    preview = plan_import_preview(source=dated, slug="small", source_name="small.md")
    assert [str(b.target_date) if b.target_date else None for b in preview.batches] == [None, "2025-11-14"]
    assert "Batch 2 – Two (target 1 PRs, due 2025-11-14)" in preview.lines()
    assert snapshot() == {name: [] for name in snapshot()}
