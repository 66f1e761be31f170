"""Reads a batch delivery plan written in markdown into plain dataclasses.

The format is the one our first users run (see README, "Plans"): a title
heading; sections for the purpose, guiding principles, each
``Batch N – Title (Target: K PRs)``, the batch governance and next steps. A
batch holds a bullet list with **Goals**, **Key Tasks** and **Readiness Gates**,
each with a nested list (or a sub-heading of that name followed by the list).
The document is parsed with markdown-it-py; the small regular expressions below
only read the text *inside* a heading or list item.

Heading levels are free, because plans are written by hand and pasted from
other documents:

- A section starts at any heading, of any level, whose text names it: a batch
  heading, Purpose, Guiding Principles, Batch Governance or Next Steps. So
  ``### Batch 1`` under a ``## Batches`` heading, or a plan whose every heading
  is ``#``, read the same as the sample plan.
- The title is the first heading of the smallest level among those *above* the
  first section (so a ``### Draft`` note over ``# Plan`` does not become the
  title). A plan whose first heading is already a section has no title.
- Any other heading ends the section it follows when it is of the same or a
  smaller level (an appendix after the batches), and stays part of the
  section's body when it is deeper (notes inside a batch).

Nothing here touches the database. Every problem raises :class:`PlanFormatError`
with the 1-based line it concerns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

DEFAULT_PR_CAP = 3
MAX_PLAN_BYTES = 1_000_000


class PlanFormatError(ValueError):
    def __init__(self, message: str, line: int | None = None):
        self.message = message
        self.line = line
        super().__init__(f"Line {line}: {message}" if line else message)


@dataclass
class ParsedTask:
    text: str
    pr_numbers: list[int]
    files: list[str]
    line: int


@dataclass
class ParsedGate:
    kind: str
    label: str
    text: str
    line: int
    pr_numbers: list[int] | None = None  # None: the whole batch
    check_name: str = ""
    evidence_required: bool = False
    doc_files: list[str] = field(default_factory=list)


@dataclass
class ParsedBatch:
    number: int
    title: str
    target_pr_count: int
    line: int
    goals: list[str] = field(default_factory=list)
    tasks: list[ParsedTask] = field(default_factory=list)
    gates: list[ParsedGate] = field(default_factory=list)
    # A milestone: "- **Target date** – 2025-11-14" in the batch's list; None when the plan gives none.
    target_date: date | None = None

    @property
    def pr_numbers(self) -> list[int]:
        seen: list[int] = []
        for task in self.tasks:
            for number in task.pr_numbers:
                if number not in seen:
                    seen.append(number)
        return seen


@dataclass
class ParsedPlan:
    title: str
    purpose: str = ""
    principles: list[dict] = field(default_factory=list)
    cadence: str = ""
    stakeholder_checkpoint: str = ""
    metrics: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    max_prs_per_batch: int = DEFAULT_PR_CAP
    # Path globs the AI-review principle names in backticks; empty when it names none.
    critical_paths: list[str] = field(default_factory=list)
    batches: list[ParsedBatch] = field(default_factory=list)


_BATCH_HEADING = re.compile(
    r"^Batch\s*#?\s*(?P<number>\d+)\s*[–—:-]\s*(?P<title>.+?)\s*(?:\(\s*Target:\s*(?P<target>\d+)\s+PRs?\s*\))?\s*$",
    re.IGNORECASE,
)
_PR_REF = re.compile(r"\bPRs?\s+#(\d+)((?:\s*(?:,|and|&)\s*#\d+)*)", re.IGNORECASE)
_HASH_NUMBER = re.compile(r"#(\d+)")
_PR_CAP = re.compile(r"(?:<=|≤|at most|no more than)\s*(\d+)\s+(?:deployable\s+)?PRs?", re.IGNORECASE)
# The principle that asks for an AI review of critical paths ("AI-Assisted Review", "Claude review"…).
_AI_REVIEW_PRINCIPLE = re.compile(
    r"\b(?:AI|Claude)\b[\w\s-]{0,40}\breview|\breview\b[\w\s-]{0,40}\b(?:AI|Claude)\b", re.I
)
# A path or glob in backticks: a slash, a dot or a star, and no spaces ("render.yaml", "**/auth/**").
_PATH_GLOB = re.compile(r"^[\w.*?\[\]{}\-]+(?:/[\w.*?\[\]{}\-]*)*$")
_FILE_LIKE = re.compile(r"^[\w.\-]+(?:/[\w.\-{}]+)*/?$")
_LABELLED = re.compile(r"^\s*(?P<name>[^:]{1,40}):\s*(?P<rest>.*)$", re.DOTALL)

_GATE_KINDS = (
    (re.compile(r"\b(ci|tests?|smoke)\b", re.I), "ci"),
    (re.compile(r"\breview\b", re.I), "ai_review"),
    (re.compile(r"\bmanual\b|\bsign-?off\b", re.I), "manual"),
    (re.compile(r"\bdocs?\b|\bdocumentation\b", re.I), "docs"),
    (re.compile(r"\bdeploy", re.I), "deploy"),
    (re.compile(r"\bobservability\b|\bsentry\b", re.I), "observability"),
)
# A heading that is meant as a batch even if it is written wrongly ("Batch four – AI"):
# it must then read as one, rather than be skipped and the batch silently lost.
_BATCH_LIKE = re.compile(
    r"^batch\s*(?:#|\d|(?:no|number|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b"
    r"|[a-z]\s*(?:[–—:-]|$))",
    re.IGNORECASE,
)
# "1. Purpose", "2) Guiding Principles:": numbering and a trailing colon are not part of the name.
_HEADING_NUMBERING = re.compile(r"^\s*\d+(?:\.\d+)*[.)]?\s+")
_SECTION_NAMES = (
    (re.compile(r"^purpose$", re.I), "purpose"),
    (re.compile(r"\bprinciples?$", re.I), "principles"),
    (re.compile(r"\bgovernance$", re.I), "governance"),
    (re.compile(r"^next\s+steps?$", re.I), "next_steps"),
)
_BATCH_PARTS = ("goals", "key tasks", "readiness gates")
_MILESTONE_NAMES = re.compile(r"^(?:target\s+date|milestone|due(?:\s+date)?|deadline)$", re.I)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_EVIDENCE_WORDS = re.compile(r"\bscreenshots?\b|\bscreen captures?\b|\bevidence\b", re.I)


def _line(node: SyntaxTreeNode) -> int:
    return node.map[0] + 1 if node.map else 0


def _level(heading: SyntaxTreeNode) -> int:
    return int(heading.tag[1])


def _heading_name(heading: SyntaxTreeNode) -> str:
    """A heading's text without its numbering or trailing colon: “2. Guiding Principles:” → “Guiding Principles”."""
    text = _inline_text(heading.children[0]) if heading.children else ""
    return _HEADING_NUMBERING.sub("", text).rstrip(":").strip()


def _section_kind(heading: SyntaxTreeNode) -> str | None:
    """Which plan section a heading starts, or None for any other heading."""
    name = _heading_name(heading)
    # Batches first: “Batch 5 – Governance” is a batch, “Batch Governance” is not.
    if _BATCH_HEADING.match(name) or _BATCH_LIKE.match(name):
        return "batch"
    for pattern, kind in _SECTION_NAMES:
        if pattern.search(name):
            return kind
    return None


def _inline_text(node: SyntaxTreeNode) -> str:
    """The text of an inline node with markup removed, code spans kept as their content."""
    parts: list[str] = []
    for child in node.children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        else:
            parts.append(_inline_text(child))
    return "".join(parts).strip()


def _code_spans(node: SyntaxTreeNode) -> list[str]:
    spans: list[str] = []
    for child in node.children:
        if child.type == "code_inline":
            spans.append(child.content.strip())
        elif child.children:
            spans.extend(_code_spans(child))
    return spans


def _leading_strong(node: SyntaxTreeNode) -> str | None:
    first = next((c for c in node.children if not (c.type == "text" and not c.content.strip())), None)
    if first is not None and first.type == "strong":
        return _inline_text(first)
    return None


def _item_paragraph(item: SyntaxTreeNode) -> SyntaxTreeNode | None:
    for child in item.children:
        if child.type == "paragraph":
            return child.children[0] if child.children else None
    return None


def _item_sublist(item: SyntaxTreeNode) -> SyntaxTreeNode | None:
    return next((c for c in item.children if c.type in ("bullet_list", "ordered_list")), None)


def _list_texts(list_node: SyntaxTreeNode) -> list[tuple[str, SyntaxTreeNode, int]]:
    out = []
    for item in list_node.children:
        inline = _item_paragraph(item)
        if inline is not None:
            out.append((_inline_text(inline), inline, _line(item)))
    return out


def _pr_numbers(text: str) -> list[int]:
    numbers: list[int] = []
    for match in _PR_REF.finditer(text):
        for number in [match.group(1), *_HASH_NUMBER.findall(match.group(2) or "")]:
            if int(number) not in numbers:
                numbers.append(int(number))
    return numbers


def _files(inline: SyntaxTreeNode) -> list[str]:
    files = []
    for span in _code_spans(inline):
        if span.startswith("/") or " " in span or not _FILE_LIKE.match(span):
            continue
        if span.endswith("/") or "." in span.rsplit("/", 1)[-1]:
            files.append(span)
    return files


def _gate_kind(name: str, line: int) -> str:
    for pattern, kind in _GATE_KINDS:
        if pattern.search(name):
            return kind
    raise PlanFormatError(
        f"unknown readiness gate “{name}”: start a gate with CI:, Manual:, Claude Review: (or AI Review:), "
        "Docs:, Deploy: or Observability:",
        line,
    )


def _ai_review_scope(text: str, batch_prs: list[int], line: int) -> list[int] | None:
    named = _pr_numbers(text)
    if named:
        return named
    if re.search(r"\bboth\b", text, re.I):
        if len(batch_prs) != 2:
            raise PlanFormatError(
                f"the review gate says “both PRs” but this batch names {len(batch_prs)} PRs; "
                "name them (e.g. PRs #1 and #2)",
                line,
            )
        return list(batch_prs)
    if re.search(r"\b(all|every|each)\b", text, re.I):
        return list(batch_prs)
    return None  # no PRs named: the whole batch


def _parse_gate(text: str, inline: SyntaxTreeNode, line: int, batch_prs: list[int]) -> ParsedGate:
    match = _LABELLED.match(text)
    if not match:
        raise PlanFormatError(f"a readiness gate must start with its kind, e.g. “CI: …”; found “{text[:60]}”", line)
    name, rest = match.group("name").strip(), match.group("rest").strip()
    kind = _gate_kind(name, line)
    label = rest.rstrip(".").strip() or name
    gate = ParsedGate(kind=kind, label=label, text=text, line=line)
    if kind == "ci":
        spans = _code_spans(inline)
        gate.check_name = ""
        if spans:
            gate.label = spans[0]
    elif kind == "ai_review":
        gate.pr_numbers = _ai_review_scope(rest, batch_prs, line)
    elif kind == "manual":
        gate.evidence_required = bool(_EVIDENCE_WORDS.search(rest))
    elif kind == "docs":
        gate.doc_files = _files(inline)
    if not rest:
        raise PlanFormatError(f"the {name} gate says nothing after the colon", line)
    return gate


def _milestone(text: str, line: int) -> date:
    """The date a batch's "Target date" bullet gives, written YYYY-MM-DD."""
    text = re.sub(r"^\s*[–—:-]\s*", "", text)
    found = _ISO_DATE.search(text)
    if not found:
        raise PlanFormatError(
            f"a target date is written YYYY-MM-DD, e.g. 2025-11-14; found “{text.strip()[:40]}”", line
        )
    try:
        return date(int(found[1]), int(found[2]), int(found[3]))
    except ValueError:
        raise PlanFormatError(f"{found[0]} is not a date", line) from None


def _parse_batch(heading: SyntaxTreeNode, body: list[SyntaxTreeNode]) -> ParsedBatch:
    line = _line(heading)
    title_text = _heading_name(heading)
    match = _BATCH_HEADING.match(title_text)
    if not match:
        raise PlanFormatError(
            f"a batch heading must read “Batch N – Title (Target: K PRs)”; found “{title_text}”", line
        )
    sections: dict[str, tuple[SyntaxTreeNode, int]] = {}
    # A part may also be a sub-heading (“#### Readiness Gates”) whose list follows it.
    part_heading: tuple[str, int] | None = None
    milestone: date | None = None
    for node in body:
        if node.type == "heading":
            name = _heading_name(node).lower()
            part_heading = (name, _line(node)) if name in _BATCH_PARTS else None
            continue
        if node.type not in ("bullet_list", "ordered_list"):
            continue
        if part_heading is not None:
            sections.setdefault(part_heading[0], (node, part_heading[1]))
            part_heading = None
            continue
        if node.type != "bullet_list":
            continue
        for item in node.children:
            inline = _item_paragraph(item)
            strong = _leading_strong(inline) if inline is not None else None
            sublist = _item_sublist(item)
            if strong and sublist is not None:
                sections[strong.strip().rstrip(":").lower()] = (sublist, _line(item))
            elif strong and inline is not None and _MILESTONE_NAMES.match(strong.strip().rstrip(":")):
                milestone = _milestone(_inline_text(inline)[len(strong) :], _line(item))

    goals = [text for text, _, _ in _list_texts(sections["goals"][0])] if "goals" in sections else []
    tasks = []
    if "key tasks" in sections:
        for text, inline, task_line in _list_texts(sections["key tasks"][0]):
            tasks.append(ParsedTask(text=text, pr_numbers=_pr_numbers(text), files=_files(inline), line=task_line))
    batch = ParsedBatch(
        number=int(match.group("number")),
        title=match.group("title").strip(),
        target_pr_count=0,
        line=line,
        goals=goals,
        tasks=tasks,
        target_date=milestone,
    )
    target = match.group("target")
    batch.target_pr_count = int(target) if target else len(batch.pr_numbers)

    if "readiness gates" not in sections:
        raise PlanFormatError(
            f"Batch {batch.number} has no Readiness Gates: add a “- **Readiness Gates**” bullet (or a "
            "“Readiness Gates” sub-heading) with the gates listed under it",
            line,
        )
    for text, inline, gate_line in _list_texts(sections["readiness gates"][0]):
        batch.gates.append(_parse_gate(text, inline, gate_line, batch.pr_numbers))

    # Documentation parity: the docs a batch's tasks name must be changed by its PRs.
    named_docs = [f for task in tasks for f in task.files if f.lower().endswith((".md", ".rst", ".txt"))]
    if named_docs and not any(g.kind == "docs" for g in batch.gates):
        batch.gates.append(
            ParsedGate(
                kind="docs",
                label="Documentation updates merged: " + ", ".join(named_docs),
                text="",
                line=line,
                doc_files=named_docs,
            )
        )
    return batch


def _split_emphasis(text: str, inline: SyntaxTreeNode) -> tuple[str, str]:
    """Split “**Name** – rest” into its name and its rest (the name is the leading bold text)."""
    name = _leading_strong(inline)
    if name and text.startswith(name):
        return name.strip(), re.sub(r"^\s*[–—:-]\s*", "", text[len(name) :]).strip()
    return "", text


def parse_plan(source: bytes | str) -> ParsedPlan:
    """Parse a plan document. Raises PlanFormatError on anything it cannot read."""
    if isinstance(source, bytes):
        if len(source) > MAX_PLAN_BYTES:
            raise PlanFormatError(f"the file is {len(source):,} bytes; a plan may be at most {MAX_PLAN_BYTES:,}")
        if b"\x00" in source:
            raise PlanFormatError("the file is binary, not a markdown plan")
        raw = source
        try:
            source = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise PlanFormatError("the file is not UTF-8 text (is it a markdown plan?)", line) from None
    if "\x00" in source:
        raise PlanFormatError("the file is binary, not a markdown plan")
    if not source.strip():
        raise PlanFormatError("the file is empty")

    tokens = MarkdownIt("commonmark").parse(source)
    root = SyntaxTreeNode(tokens)
    nodes = list(root.children)

    title_node = _title_heading(nodes)
    plan = ParsedPlan(title=_inline_text(title_node.children[0]))
    sections: list[tuple[str, SyntaxTreeNode, list[SyntaxTreeNode]]] = []
    inside = False  # whether the nodes being read belong to the last section
    for node in nodes[nodes.index(title_node) + 1 :]:
        if node.type == "heading":
            kind = _section_kind(node)
            if kind is not None:
                sections.append((kind, node, []))
                inside = True
                continue
            # An unnamed heading: deeper ones are part of the section, others end it.
            inside = inside and _level(node) > _level(sections[-1][1])
        if inside:
            sections[-1][2].append(node)

    for kind, heading, body in sections:
        if kind == "batch":
            plan.batches.append(_parse_batch(heading, body))
        elif kind == "purpose":
            plan.purpose = "\n\n".join(
                _inline_text(n.children[0]) for n in body if n.type == "paragraph" and n.children
            )
        elif kind == "principles":
            for node in body:
                if node.type in ("ordered_list", "bullet_list"):
                    for text, inline, _ in _list_texts(node):
                        principle_title, principle_text = _split_emphasis(text, inline)
                        plan.principles.append({"title": principle_title, "text": principle_text})
                        if _AI_REVIEW_PRINCIPLE.search(text):
                            plan.critical_paths.extend(
                                span
                                for span in _code_spans(inline)
                                if _PATH_GLOB.match(span)
                                and any(c in span for c in "/.*")
                                and span not in plan.critical_paths
                            )
                        cap = _PR_CAP.search(principle_text)
                        if cap:
                            plan.max_prs_per_batch = int(cap.group(1))
        elif kind == "governance":
            for node in body:
                if node.type in ("ordered_list", "bullet_list"):
                    for text, inline, _ in _list_texts(node):
                        key, value = _split_emphasis(text, inline)
                        key = key.lower()
                        if key.startswith("cadence"):
                            plan.cadence = value
                        elif key.startswith("stakeholder"):
                            plan.stakeholder_checkpoint = value
                        elif key.startswith("metric"):
                            # "Track cycle time, escaped defects, and X findings for continuous improvement."
                            listed = re.sub(r"^Track\s+", "", value, flags=re.I)
                            listed = re.sub(r"\s+for\s+[^,]*$", "", listed.rstrip("."))
                            plan.metrics = [
                                m.strip() for m in re.split(r",\s*(?:and\s+)?|\s+and\s+", listed) if m.strip()
                            ]
        elif kind == "next_steps":
            for node in body:
                if node.type in ("ordered_list", "bullet_list"):
                    plan.next_steps.extend(text for text, _, _ in _list_texts(node))

    if not plan.batches:
        raise _no_batches(root, title_node)
    _validate(plan)
    return plan


def _title_heading(nodes: list[SyntaxTreeNode]) -> SyntaxTreeNode:
    """The plan's title: the first heading of the smallest level above the first section."""
    candidates: list[SyntaxTreeNode] = []
    for node in nodes:
        if node.type != "heading":
            continue
        if _section_kind(node) is not None:
            if not candidates:
                raise PlanFormatError(
                    f"the plan has no title: its first heading, “{_inline_text(node.children[0])}”, is a section; "
                    "put the plan's name in a heading above it (e.g. “# Title”)",
                    _line(node),
                )
            break
        candidates.append(node)
    if not candidates:
        raise PlanFormatError("the plan has no title: start it with a “# Title” line", 1)
    top = min(_level(node) for node in candidates)
    return next(node for node in candidates if _level(node) == top)


_MISSING_SPACE = re.compile(r"^#{1,6}(?=[^#\s])")
_CODE_HEADING = re.compile(r"^\s*#{1,6}\s+(.*)$")


def _quote(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _no_batches(root: SyntaxTreeNode, title: SyntaxTreeNode) -> PlanFormatError:
    """“No batches”, naming the first line that looks like a batch but is not read as one."""
    message = "the plan has no batches: add a heading such as “## Batch 1 – Title (Target: N PRs)” (any level)"

    def looks_like_batch(text: str) -> bool:
        text = _HEADING_NUMBERING.sub("", text).strip()
        return bool(_BATCH_HEADING.match(text) or _BATCH_LIKE.match(text))

    for node in root.walk(include_self=False):
        line = _line(node)
        if node.type == "heading" and node is not title:
            text = _quote(_inline_text(node.children[0]))
            if node.parent is not None and not node.parent.is_root:
                if looks_like_batch(text):
                    return PlanFormatError(
                        f"the plan has no batches: “{text}” is a heading inside a list or quote; "
                        "start the batch heading at the beginning of the line",
                        line,
                    )
            elif _section_kind(node) is None and re.search(r"\bbatch|\(\s*target:", text, re.I):
                return PlanFormatError(
                    f"the plan has no batches: “{text}” is a heading but not a batch heading; "
                    "a batch heading reads “Batch N – Title (Target: K PRs)”",
                    line,
                )
        elif node.type == "paragraph" and node.children:
            text = _quote(_inline_text(node.children[0]))
            if _MISSING_SPACE.match(text) and looks_like_batch(text.lstrip("#")):
                return PlanFormatError(
                    f"the plan has no batches: “{text}” is not a heading; put a space after the “#”", line
                )
            if _BATCH_HEADING.match(text):
                return PlanFormatError(
                    f"the plan has no batches: “{text}” is a paragraph, not a heading; "
                    "start the line with “## ” to make it a batch heading",
                    line,
                )
        elif node.type in ("code_block", "fence"):
            for offset, code_line in enumerate(node.content.splitlines()):
                heading = _CODE_HEADING.match(code_line)
                if heading and looks_like_batch(heading.group(1)):
                    return PlanFormatError(
                        f"the plan has no batches: “{_quote(code_line.strip())}” is inside a code block "
                        "(indented by four spaces, or fenced); start it at the beginning of the line",
                        line + offset + (1 if node.type == "fence" else 0),
                    )
    return PlanFormatError(message)


def _validate(plan: ParsedPlan) -> None:
    seen_numbers: dict[int, int] = {}
    pr_owner: dict[int, int] = {}
    for batch in plan.batches:
        if batch.number in seen_numbers:
            raise PlanFormatError(
                f"Batch {batch.number} appears twice (first on line {seen_numbers[batch.number]})", batch.line
            )
        seen_numbers[batch.number] = batch.line
        cap = plan.max_prs_per_batch
        if batch.target_pr_count > cap:
            raise PlanFormatError(
                f"Batch {batch.number} targets {batch.target_pr_count} PRs; the plan allows at most {cap} per batch",
                batch.line,
            )
        if len(batch.pr_numbers) > cap:
            raise PlanFormatError(
                f"Batch {batch.number} names {len(batch.pr_numbers)} PRs "
                f"({', '.join(f'#{n}' for n in batch.pr_numbers)}); the plan allows at most {cap} per batch",
                batch.line,
            )
        for task in batch.tasks:
            for number in task.pr_numbers:
                owner = pr_owner.setdefault(number, batch.number)
                if owner != batch.number:
                    raise PlanFormatError(f"PR #{number} is already part of Batch {owner}", task.line)
        for gate in batch.gates:
            for number in gate.pr_numbers or []:
                if number not in batch.pr_numbers:
                    have = ", ".join(f"#{n}" for n in batch.pr_numbers) or "none"
                    raise PlanFormatError(
                        f"the gate names PR #{number}, which is not a PR of Batch {batch.number} (its PRs: {have})",
                        gate.line,
                    )
    numbers = [b.number for b in plan.batches]
    if numbers != sorted(numbers):
        raise PlanFormatError("batches must be written in order of their numbers", plan.batches[0].line)
