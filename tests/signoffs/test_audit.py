from __future__ import annotations

import csv
import io

import pytest
from markdown_it import MarkdownIt

from signoffs.audit import CSV_COLUMNS, audit_batch, audit_csv, audit_markdown
from signoffs.evidence import evidence_add
from signoffs.models import Evidence
from signoffs.services import signoff_record
from tests.factories import ChecklistItemFactory
from tests.signoffs.conftest import image_bytes, upload


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_markdown_lists_gates_events_and_evidence_with_both_hashes(audited_batch):
    batch = audit_batch(slug="release-2025", number=3)
    text = audit_markdown(batch)
    first, second = Evidence.objects.order_by("pk")

    assert text.startswith("# Sign-off record: Release plan — Batch 3: Payments")
    assert "| make test | CI | Passing | pytest passed on abc123 | 2025-10-02 09:30:00 UTC | — |" in text
    assert "| README parity | Docs | Waived | — | — | waived by rita at " in text
    assert "UTC: Docs ship next batch |" in text
    assert "| README parity | Waived | rita |" in text  # the waivers table
    assert "| Docs ship next batch |" in text
    assert "| Ops screenshots | Sentry shows no new errors | 1 | Ticked | eddie |" in text
    assert "| Checked at 09:00 |" in text
    assert "| Ops screenshots | Sentry shows no new errors | 2 | Noted | rita |" in text
    assert "| Ops screenshots | Sentry shows no new errors | yes | ticked |" in text
    for evidence in (first, second):
        assert f"`{evidence.original_sha256}` | `{evidence.stored_sha256}`" in text
    assert f"| {first.pk} | Ops screenshots | Sentry shows no new errors | sentry.png (PNG, 40×30) | olga |" in text
    assert f"`{first.stored_sha256}` | — | {second.pk} |" in text  # first was replaced by second
    assert f"`{second.stored_sha256}` | {first.pk} | — |" in text  # second replaces first, is current


def test_markdown_cells_cannot_break_the_table_or_inject_html(db, engineer):
    item = ChecklistItemFactory(text="Item | with pipe")
    signoff_record(item=item, user=engineer, action="note", note="line one\nline two <script>x</script>")
    batch = audit_batch(slug=item.gate.batch.plan.slug, number=item.gate.batch.number)
    text = audit_markdown(batch)
    assert "Item \\| with pipe" in text
    assert "line one line two \\<script\\>x\\</script\\>" in text
    assert "<script>" not in text


# What a renderer does with the record: CommonMark with raw HTML allowed (its default) plus GFM tables.
RENDERER = MarkdownIt("commonmark").enable(["table", "strikethrough"])

HOSTILE = (
    "[x](javascript:alert(1)) ![](http://evil/x.png) <script>alert(1)</script> "
    "<img src=x onerror=alert(1)> <http://evil/auto> [ref]: http://evil/r &amp; &#60;b&#62; "
    "*em* _em_ ~~del~~ `code` | a\\|b \\ #"
)


def _table_widths(markdown: str) -> list[list[int]]:
    """For each rendered table: the number of cells in each of its rows."""
    tables: list[list[int]] = []
    for token in RENDERER.parse(markdown):
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            tables[-1].append(0)
        elif token.type in ("th_open", "td_open"):
            tables[-1][-1] += 1
    return tables


def test_markdown_from_hostile_data_renders_as_literal_text(db, engineer, ops, release_manager):
    from batches.models import BatchState, GateKind
    from tests.factories import BatchFactory, GateFactory

    batch = BatchFactory(plan__title=f"Plan {HOSTILE}", title=f"Batch {HOSTILE}", state=BatchState.IN_PROGRESS)
    ci = GateFactory(batch=batch, key="ci", label=f"Label {HOSTILE}", detail=f"Detail {HOSTILE}")
    ci.waive(by=release_manager, reason=f"Waiver {HOSTILE}")
    manual = GateFactory(batch=batch, key="manual", kind=GateKind.MANUAL, label="Manual")
    item = ChecklistItemFactory(gate=manual, text=f"Item {HOSTILE}")
    signoff_record(item=item, user=engineer, action="note", note=f"Note {HOSTILE}\nsecond line")
    # A file name keeps no directory part, so this one has no slash.
    file_name = "[x](javascript:alert(1)) ![](evil.png) <img src=x onerror=alert(1)> &amp; *em* | _x_.png"
    evidence_add(item=item, upload=upload(image_bytes("PNG"), name=file_name), by=ops)

    markdown = audit_markdown(audit_batch(slug=batch.plan.slug, number=batch.number))
    html = RENDERER.render(markdown)

    # (The record's own <code> spans hold slugs and hashes only.)
    for produced in ("<a", "<img", "<script", "<b>", "<em>", "<s>", "<code>code</code>"):
        assert produced not in html
    # Every place the data went shows it as written: titles, gate label, detail and waiver, item, note, file name.
    literal = (
        "[x](javascript:alert(1)) ![](http://evil/x.png) &lt;script&gt;alert(1)&lt;/script&gt; "
        "&lt;img src=x onerror=alert(1)&gt; &lt;http://evil/auto&gt; [ref]: http://evil/r &amp;amp; "
        "&amp;#60;b&amp;#62; *em* _em_ ~~del~~ `code` | a\\|b \\ #"
    )
    for where in ("Plan ", "Batch ", "Label ", "Detail ", "Waiver ", "Item ", "Note "):
        assert where + literal in html, where
    assert "[x](javascript:alert(1)) ![](evil.png) &lt;img src=x onerror=alert(1)&gt; &amp;amp; *em* | _x_.png" in html
    assert "second line" in html
    # No table lost or gained a column.
    # (The last: the stakeholder review's section, added by the reviews app through the record's seam.)
    assert [set(rows) for rows in _table_widths(markdown)] == [{6}, {5}, {5}, {7}, {4}, {10}, {5}]


def test_markdown_title_reads_as_written(sample_plan):
    markdown = audit_markdown(audit_batch(slug=sample_plan.slug, number=2))
    title = markdown.splitlines()[0]
    assert title.endswith("— Batch 2: Deployment & Observability Hardening")
    assert "&amp;" not in title
    # Rendered, the heading reads the same (an HTML renderer escapes the & itself).
    assert RENDERER.render(title).endswith("— Batch 2: Deployment &amp; Observability Hardening</h1>\n")


def test_csv_has_every_record_and_neutralises_formulas(audited_batch):
    batch = audit_batch(slug="release-2025", number=3)
    rows = _rows(audit_csv(batch))
    first, second = Evidence.objects.order_by("pk")

    assert [r["record"] for r in rows] == [
        "gate",
        "gate",
        "waiver",
        "gate",
        "item",
        "signoff",
        "signoff",
        "evidence",
        "evidence",
    ]
    assert list(rows[0]) == CSV_COLUMNS
    assert rows[1]["detail_or_note"] == "waived: Docs ship next batch"
    assert rows[1]["by"] == "rita"
    assert (rows[2]["state_or_action"], rows[2]["by"], rows[2]["detail_or_note"]) == (
        "waived",
        "rita",
        "Docs ship next batch",
    )
    assert rows[5]["state_or_action"] == "tick"
    assert rows[5]["by"] == "eddie"
    # A note that starts with "=" would run as a formula in a spreadsheet: it is quoted.
    assert rows[6]["detail_or_note"] == '\'=HYPERLINK("http://evil","x")'
    assert rows[7]["evidence_id"] == str(first.pk)
    assert rows[7]["original_sha256"] == first.original_sha256
    assert rows[7]["stored_sha256"] == first.stored_sha256
    assert rows[7]["replaced_by_evidence_id"] == str(second.pk)
    assert rows[8]["replaces_evidence_id"] == str(first.pk)


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1"])
def test_csv_formula_prefixes_are_quoted(db, engineer, value):
    item = ChecklistItemFactory(text=value)
    batch = audit_batch(slug=item.gate.batch.plan.slug, number=item.gate.batch.number)
    [_gate_row, item_row] = _rows(audit_csv(batch))
    assert item_row["item"] == "'" + value


def test_query_count_is_constant_however_long_the_history(
    audited_batch, ops, engineer, django_assert_max_num_queries, django_assert_num_queries
):
    # One of them is the stakeholder review's section (no review yet: its prefetches are skipped).
    with django_assert_num_queries(8) as small:
        audit_markdown(audit_batch(slug="release-2025", number=3))
    baseline = len(small.captured_queries)

    manual = audited_batch.gates.get(key="manual")
    for n in range(6):
        item = ChecklistItemFactory(gate=manual, key=f"extra-{n}", text=f"Extra {n}")
        evidence_add(item=item, upload=upload(image_bytes("PNG")), by=ops)
        signoff_record(item=item, user=engineer, action="tick")
        signoff_record(item=item, user=engineer, action="untick", note="redo")

    with django_assert_max_num_queries(baseline):
        batch = audit_batch(slug="release-2025", number=3)
        text = audit_markdown(batch)
        audit_csv(batch)
    assert text.count("| Unticked |") == 6


def test_the_record_shows_waivers_overrides_and_the_lifecycle_on_both_batches(journey):
    """Batch 1 ready with a waiver; Batch 2 started by override: both records say so."""
    from batches.models import GateKind

    rm = journey.release_manager
    batch1 = journey.batch(1)
    batch1.start(by=rm)
    journey.open_prs(batch1)
    journey.report(batch1, ci=None, ai="timed_out")
    journey.sync(batch1)
    ai = batch1.gates.get(kind=GateKind.AI_REVIEW)
    ai.waive(by=rm, reason="Claude rate limited")
    ai.revoke_waiver(by=rm, reason="Claude is back")
    ai.waive(by=rm, reason="Claude down again")
    journey.batch(2).start(by=rm, override_reason="Hotfix cannot wait")

    first = audit_markdown(audit_batch(slug=journey.plan.slug, number=1))
    assert "| AI review | Waived |" in first
    for line in ("| Waived | rita |", "| Waiver revoked | rita |", "| Claude is back |", "| Claude down again |"):
        assert line in first
    assert "| Started | rita |" in first
    assert "| Batch 2 was started with an override before this batch passed | rita |" in first
    assert "| Hotfix cannot wait |" in first

    second = audit_markdown(audit_batch(slug=journey.plan.slug, number=2))
    assert "| Started with an override | rita |" in second
    assert "| Hotfix cannot wait | Waiting for Batch 1: 1 CI gate not passing. |" in second
    rows = _rows(audit_csv(audit_batch(slug=journey.plan.slug, number=2)))
    assert rows[0]["record"] == "lifecycle"
    assert rows[0]["detail_or_note"] == "Hotfix cannot wait / Waiting for Batch 1: 1 CI gate not passing."
