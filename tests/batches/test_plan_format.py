"""Direct tests of the markdown reader: heading levels, titles, and what "no batches" says."""

from __future__ import annotations

import dataclasses

import pytest

from batches.plan_format import ParsedPlan, PlanFormatError, parse_plan
from tests.conftest import SAMPLE_PLAN

TITLE = "# Strategic Batch Delivery Plan (October 2025 Refresh)\n"


@pytest.fixture(scope="module")
def sample_text() -> str:
    return SAMPLE_PLAN.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def sample(sample_text) -> ParsedPlan:
    return parse_plan(sample_text)


def relevel(text: str, *, title: int, sections: int) -> str:
    """The sample plan with its `#` title at level ``title`` and every `##` section at level ``sections``."""
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith("# "):
            line = "#" * title + line[1:]
        elif line.startswith("## "):
            line = "#" * sections + line[2:]
        lines.append(line)
    return "".join(lines)


def without_lines(value):
    """A parsed plan as plain data without line numbers, for plans whose lines moved."""
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: without_lines(v) for k, v in value.items() if k != "line"}
    if isinstance(value, list):
        return [without_lines(v) for v in value]
    return value


def test_the_sample_plan_reads_as_four_batches(sample):
    # The reference the heading-level tests compare against.
    assert sample.title == "Strategic Batch Delivery Plan (October 2025 Refresh)"
    assert [(b.number, b.target_pr_count, b.pr_numbers) for b in sample.batches] == [
        (1, 2, [1, 2]),
        (2, 3, [3, 4, 5]),
        (3, 3, [6, 7, 8]),
        (4, 2, [9, 10]),
    ]
    assert [len(b.gates) for b in sample.batches] == [3, 4, 3, 3]
    assert len(sample.principles) == 4
    assert sample.cadence.startswith("Deliver sequentially")
    assert len(sample.next_steps) == 3


@pytest.mark.parametrize("sections", [1, 2, 3, 4], ids=lambda n: "sections " + "#" * n)
@pytest.mark.parametrize("title", [1, 2, 3, 4], ids=lambda n: "title " + "#" * n)
def test_any_heading_level_reads_the_same_plan(sample_text, sample, title, sections):
    """`#` to `####` for the title and for every section, in every combination: the same plan, same lines."""
    text = relevel(sample_text, title=title, sections=sections)
    assert f"\n{'#' * sections} Batch 3 – Phase 5.A" in text
    assert parse_plan(text) == sample


def test_the_issue_plan_with_h3_batches_and_ascii_dashes_imports(sample_text, sample):
    """Issue 8: `### Batch 1 - Title (Target: 2 PRs)` was refused with "the plan has no batches"."""
    text = sample_text.replace("## Batch ", "### Batch ").replace(" – ", " - ")
    parsed = parse_plan(text)
    assert [b.title for b in parsed.batches] == [b.title for b in sample.batches]
    assert parsed.principles == sample.principles  # the `##` sections around them still count


def test_batches_under_a_batches_heading(sample_text, sample):
    text = sample_text.replace("## Batch 1 ", "## Batches\n\n## Batch 1 ", 1)
    for number in (1, 2, 3, 4):
        text = text.replace(f"## Batch {number} ", f"### Batch {number} ")
    parsed = parse_plan(text)
    assert without_lines(parsed) == without_lines(sample)
    assert parsed.batches[0].line == sample.batches[0].line + 2


def test_a_deeper_heading_stays_in_its_section_and_a_shallower_one_ends_it(sample_text, sample):
    text = sample_text.replace(
        "- **Readiness Gates**\n  - CI: `npm run test:ci`.",
        "#### Notes for reviewers\n\nSee the audit.\n\n- **Readiness Gates**\n  - CI: `npm run test:ci`.",
    )
    text += "\n## Appendix\n\n1. Not a next step.\n\n### Batch history\n\n- Not a batch either.\n"
    parsed = parse_plan(text)
    assert [g.label for g in parsed.batches[2].gates] == [g.label for g in sample.batches[2].gates]
    assert parsed.next_steps == sample.next_steps


def test_the_title_is_the_biggest_heading_above_the_first_section(sample_text, sample):
    text = "### Draft – not for circulation\n\n" + sample_text.replace("## Purpose", "## Overview\n\n## Purpose")
    assert parse_plan(text).title == sample.title
    # A plan whose every heading is `#`: the first is the title.
    assert parse_plan(relevel(sample_text, title=1, sections=1)).title == sample.title


def test_a_plan_that_starts_with_a_section_has_no_title(sample_text):
    with pytest.raises(PlanFormatError) as excinfo:
        parse_plan(sample_text.replace(TITLE, "").replace("## ", "# "))
    assert str(excinfo.value) == (
        "Line 2: the plan has no title: its first heading, “Purpose”, is a section; "
        "put the plan's name in a heading above it (e.g. “# Title”)"
    )
    with pytest.raises(PlanFormatError, match=r"^Line 1: the plan has no title: start it with"):
        parse_plan("Just some text.\n\n- a list\n")


def test_numbered_section_headings_are_recognised(sample_text, sample):
    text = sample_text
    for number, name in enumerate(["Purpose", "Guiding Principles", "Batch Governance", "Next Steps"], 1):
        text = text.replace(f"## {name}\n", f"## {number}. {name}:\n")
    assert parse_plan(text) == sample


def test_a_batch_named_like_a_section_is_still_a_batch(sample_text):
    text = sample_text.replace("Batch 4 – AI Recommendation & Telemetry Uplift", "Batch 4 – Governance")
    parsed = parse_plan(text)
    assert parsed.batches[-1].title == "Governance"
    assert parsed.cadence.startswith("Deliver sequentially")


def test_batch_parts_may_be_sub_headings():
    text = (
        "# Plan\n\n### Batch 1 – Backend Reliability & Options Routing (Target: 2 PRs)\n\n"
        "#### Goals\n\n- Repair routing.\n\n"
        "#### Key Tasks:\n\n- Instrument routing (PR #1).\n- Regression tests in `backend/tests/test_x.py` (PR #2).\n\n"
        "#### Readiness Gates\n\n- CI: `pytest`.\n- Manual: Dropdown populates.\n- Claude Review: Required for PR #2.\n"
    )
    batch = parse_plan(text).batches[0]
    assert batch.goals == ["Repair routing."]
    assert [(t.pr_numbers, t.files, t.line) for t in batch.tasks] == [
        ([1], [], 11),
        ([2], ["backend/tests/test_x.py"], 12),
    ]
    assert [(g.kind, g.label, g.pr_numbers) for g in batch.gates] == [
        ("ci", "pytest", None),
        ("manual", "Dropdown populates", None),
        ("ai_review", "Required for PR #2", [2]),
    ]


def test_a_batch_without_gates_says_how_to_write_them():
    with pytest.raises(PlanFormatError, match=r"^Line 3: Batch 1 has no Readiness Gates: add a “- \*\*Readiness"):
        parse_plan("# Plan\n\n#### Batch 1 – One (Target: 1 PRs)\n\n- **Goals**\n  - x\n")


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_errors_name_the_line_at_every_heading_level(sample_text, level):
    text = relevel(sample_text, title=1, sections=level)
    text = text.replace("Workflow Enhancements (Target: 3 PRs)", "Workflow Enhancements (Target: 4 PRs)")
    with pytest.raises(PlanFormatError, match=r"^Line 37: Batch 3 targets 4 PRs; the plan allows at most 3"):
        parse_plan(text)
    bad = relevel(sample_text, title=1, sections=level).replace("Batch 4 – AI", "Batch four – AI")
    with pytest.raises(PlanFormatError, match=r"^Line 50: a batch heading must read"):
        parse_plan(bad)


NO_BATCHES = {
    "no space after #": (
        "# Plan\n\n##Batch 1 - Title (Target: 2 PRs)\n",
        "Line 3: the plan has no batches: “##Batch 1 - Title (Target: 2 PRs)” is not a heading; "
        "put a space after the “#”",
    ),
    "bold paragraph": (
        "# Plan\n\nIntro.\n\n**Batch 1 – Title (Target: 2 PRs)**\n- **Goals**\n",
        "Line 5: the plan has no batches: “Batch 1 – Title (Target: 2 PRs)” is a paragraph, not a heading; "
        "start the line with “## ” to make it a batch heading",
    ),
    "indented code": (
        "# Plan\n\n    ## Batch 1 – Title (Target: 2 PRs)\n",
        "Line 3: the plan has no batches: “## Batch 1 – Title (Target: 2 PRs)” is inside a code block",
    ),
    "fenced code": (
        "# Plan\n\n```markdown\nintro\n### Batch 1 – Title\n```\n",
        "Line 5: the plan has no batches: “### Batch 1 – Title” is inside a code block",
    ),
    "in a quote": (
        "# Plan\n\n> ## Batch 1 – Title (Target: 2 PRs)\n",
        "Line 3: the plan has no batches: “Batch 1 – Title (Target: 2 PRs)” is a heading inside a list or quote",
    ),
    "other word": (
        "# Plan\n\n## Purpose\n\nx\n\n### Sprint 1 – Title (Target: 2 PRs)\n",
        "Line 7: the plan has no batches: “Sprint 1 – Title (Target: 2 PRs)” is a heading but not a batch heading; "
        "a batch heading reads “Batch N – Title (Target: K PRs)”",
    ),
    "nothing close": (
        "# Batch plan\n\n## Purpose\n\nBatch 1 was late.\n",
        "the plan has no batches: add a heading such as “## Batch 1 – Title (Target: N PRs)” (any level)",
    ),
}


@pytest.mark.parametrize("case", NO_BATCHES, ids=list(NO_BATCHES))
def test_no_batches_names_the_line_that_looks_like_one(case):
    text, message = NO_BATCHES[case]
    with pytest.raises(PlanFormatError) as excinfo:
        parse_plan(text)
    assert str(excinfo.value).startswith(message)


def test_a_batch_may_give_a_target_date(sample_text):
    dated = sample_text.replace(
        "## Batch 2 – Deployment & Observability Hardening (Target: 3 PRs)\n",
        "## Batch 2 – Deployment & Observability Hardening (Target: 3 PRs)\n- **Target date** – 2025-11-14\n",
    )
    plan = parse_plan(dated)
    assert [str(b.target_date) if b.target_date else None for b in plan.batches] == [None, "2025-11-14", None, None]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "- **Target date** – mid November",
            "a target date is written YYYY-MM-DD, e.g. 2025-11-14; found “mid November”",
        ),
        ("- **Milestone**: 2025-13-40", "2025-13-40 is not a date"),
    ],
)
def test_a_bad_target_date_names_its_line(sample_text, line, message):
    heading = "## Batch 2 – Deployment & Observability Hardening (Target: 3 PRs)\n"
    number = sample_text[: sample_text.index(heading)].count("\n") + 2
    with pytest.raises(PlanFormatError) as excinfo:
        parse_plan(sample_text.replace(heading, heading + line + "\n"))
    assert str(excinfo.value) == f"Line {number}: {message}"
