"""The release checklist: parsed from Markdown, imported and re-imported in place, edited with its history."""

from __future__ import annotations

import pytest

from reviews.checklist import (
    ChecklistError,
    checklist_import,
    checklist_item_add,
    checklist_item_edit,
    checklist_item_retire,
    checklist_parse,
)
from reviews.models import ReleaseCheckItem, ReleaseChecklist, ReleaseCheckRevision
from tests.reviews.conftest import GUIDE

GOOD = b"""# Production Deployment Guide

Some prose the import ignores.

## Before
- [ ] CI is green
- [x] Secrets are set
* [ ] Migrations applied on staging

## After
  - [ ] Smoke tests pass
"""


def test_parse_reads_items_under_their_headings():
    entries = checklist_parse(GOOD, name="guide.md")
    assert [(e.heading, e.text, e.line) for e in entries] == [
        ("Before", "CI is green", 6),
        ("Before", "Secrets are set", 7),
        ("Before", "Migrations applied on staging", 8),
        ("After", "Smoke tests pass", 11),
    ]


def test_the_default_guide_parses():
    entries = checklist_parse(GUIDE.read_bytes(), name=GUIDE.name)
    assert len(entries) == 8
    assert {e.heading for e in entries} == {"Before the deploy", "Deploy", "After the deploy"}


def test_import_writes_every_item_with_an_added_revision(sample_plan, release_manager):
    result = checklist_import(plan=sample_plan, source=GOOD, source_name="guide.md", by=release_manager)
    assert (result.added, result.edited, result.retired) == (4, 0, 0)
    items = list(ReleaseCheckItem.objects.filter(checklist__plan=sample_plan).order_by("position"))
    assert [i.text for i in items] == [
        "CI is green",
        "Secrets are set",
        "Migrations applied on staging",
        "Smoke tests pass",
    ]
    assert [r.action for r in ReleaseCheckRevision.objects.all()] == ["added"] * 4
    assert ReleaseCheckRevision.objects.first().source == "guide.md"
    assert result.checklist.source_name == "guide.md"
    assert len(result.checklist.source_sha256) == 64


def test_reimport_with_an_edited_item_keeps_its_history(sample_plan, release_manager):
    checklist_import(plan=sample_plan, source=GOOD, source_name="guide.md", by=release_manager)
    smoke = ReleaseCheckItem.objects.get(text="Smoke tests pass")
    secrets = ReleaseCheckItem.objects.get(text="Secrets are set")
    edited = (
        GOOD.replace(b"Smoke tests pass", b"Smoke tests pass against production").replace(
            b"- [x] Secrets are set\n", b""
        )
        + b"- [ ] Health checks answer\n"
    )

    result = checklist_import(plan=sample_plan, source=edited, source_name="guide-v2.md", by=None)

    assert (result.added, result.edited, result.retired, result.unchanged) == (1, 1, 1, 2)
    smoke.refresh_from_db()
    assert smoke.text == "Smoke tests pass against production"  # the same item, its words changed
    assert [(r.action, r.previous_text, r.text) for r in smoke.revisions.order_by("pk")] == [
        ("added", "", "Smoke tests pass"),
        ("edited", "Smoke tests pass", "Smoke tests pass against production"),
    ]
    secrets.refresh_from_db()
    assert secrets.retired  # never deleted: past reviews confirmed it
    assert [r.action for r in secrets.revisions.order_by("pk")] == ["added", "retired"]
    # Putting it back restores the same item.
    checklist_import(plan=sample_plan, source=GOOD, source_name="guide.md", by=None)
    secrets.refresh_from_db()
    assert not secrets.retired
    assert [r.action for r in secrets.revisions.order_by("pk")] == ["added", "retired", "restored"]


def test_reimport_of_the_same_file_changes_nothing(sample_plan, release_manager):
    checklist_import(plan=sample_plan, source=GOOD, source_name="guide.md", by=release_manager)
    result = checklist_import(plan=sample_plan, source=GOOD, source_name="guide.md", by=release_manager)
    assert result.summary() == "4 unchanged"
    assert ReleaseCheckRevision.objects.count() == 4


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b"", r"^guide\.md is empty: it needs “- \[ \] item” lines under headings\.$"),
        (b"  \n\n\t\n", r"^guide\.md is empty"),
        (
            b"# Guide\n\nJust prose.\n- a plain bullet\n",
            r"^guide\.md has no checklist items: write them as “- \[ \] item”",
        ),
        (
            b"# Guide\n- [ ] ok\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            r"^guide\.md, line 3: this is not UTF-8 text \(a binary",
        ),
        (b"# Guide\n- [ ] ok\n\x00\x01\x02", r"^guide\.md, line 3: this is a binary file, not a Markdown checklist\.$"),
        (b"# Guide\n- [ ] ok\n- [ ] caf\xe9\n", r"^guide\.md, line 3: this is not UTF-8 text"),
        (b"# Guide\n- [ ] ok\n- [ ]   \n", r"^guide\.md, line 3: the checklist item has no text\.$"),
        (
            b"# Guide\n- [ ] ok\n- [ ] ok\n",
            r"^guide\.md, line 3: “ok” is listed twice under “Guide” \(first on line 2\)\.$",
        ),
    ],
    ids=["empty", "blank", "no-items", "png", "binary", "not-utf8", "item-without-text", "duplicate"],
)
def test_a_bad_file_is_refused_naming_the_line_and_writes_nothing(sample_plan, release_manager, source, message):
    checklist_import(plan=sample_plan, source=GOOD, source_name="guide.md", by=release_manager)
    before = list(ReleaseCheckItem.objects.values_list("pk", "text", "retired"))
    checklist = ReleaseChecklist.objects.get()
    with pytest.raises(ChecklistError, match=message):
        checklist_import(plan=sample_plan, source=source, source_name="guide.md", by=release_manager)
    assert list(ReleaseCheckItem.objects.values_list("pk", "text", "retired")) == before
    assert ReleaseCheckRevision.objects.count() == 4
    assert ReleaseChecklist.objects.get().imported_at == checklist.imported_at


def test_a_first_bad_import_creates_no_checklist(sample_plan):
    with pytest.raises(ChecklistError):
        checklist_import(plan=sample_plan, source=b"\x00\x01", source_name="x.bin")
    assert not ReleaseChecklist.objects.exists()


def test_portal_edits_append_to_the_history(sample_plan, release_manager):
    checklist_import(plan=sample_plan, source=GOOD, source_name="guide.md", by=release_manager)
    item = ReleaseCheckItem.objects.get(text="CI is green")
    checklist_item_edit(item=item, text="  CI is green on main  ", by=release_manager)
    added = checklist_item_add(plan=sample_plan, heading="After", text="Docs published", by=release_manager)
    checklist_item_retire(item=added, by=release_manager)
    item.refresh_from_db()
    assert item.text == "CI is green on main"
    assert [(r.action, r.source, r.by) for r in item.revisions.order_by("pk")] == [
        ("added", "guide.md", release_manager),
        ("edited", "portal", release_manager),
    ]
    assert [r.action for r in added.revisions.order_by("pk")] == ["added", "retired"]


@pytest.mark.parametrize("text", ["", "   ", "x" * 1001])
def test_portal_edit_refuses_bad_words_and_writes_nothing(sample_plan, release_manager, text):
    checklist_import(plan=sample_plan, source=GOOD, source_name="guide.md", by=release_manager)
    item = ReleaseCheckItem.objects.get(text="CI is green")
    with pytest.raises(ChecklistError):
        checklist_item_edit(item=item, text=text, by=release_manager)
    item.refresh_from_db()
    assert item.text == "CI is green"
    assert item.revisions.count() == 1
