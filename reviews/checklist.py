"""A plan's release checklist: read from a Markdown file, written in place, edited in the portal.

The file is any Markdown document whose checklist lines (``- [ ] item``, also
``* [x] item``) sit under headings, such as a team's PRODUCTION_DEPLOYMENT_GUIDE.md;
everything else in it is prose and is ignored. A bad file is refused with one
message naming the line, and nothing is written.

Re-importing keeps each item's identity, so its history stays whole: an item
with the same words is the same item (moved, perhaps), a changed line at the
same place under the same heading is an *edit* of the item that was there, a
new line is *added*, and a line that is gone *retires* its item (never deleted:
past reviews confirmed it).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from batches.models import Plan
from portal.roles import Actor
from reviews.models import ReleaseCheckItem, ReleaseChecklist, ReleaseCheckRevision, RevisionAction

ITEM_MAX_LENGTH = 1_000
HEADING_MAX_LENGTH = 300
SOURCE_MAX_BYTES = 1_000_000
PORTAL = "portal"

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_ITEM = re.compile(r"^\s*[-*+][ \t]+\[([ xX])\](?:[ \t]+(.*?))?\s*$")


class ChecklistError(Exception):
    """The checklist file or an edit was refused; nothing was written. ``str()`` is for people."""


@dataclass(frozen=True)
class Entry:
    heading: str
    text: str
    line: int


@dataclass
class ImportResult:
    checklist: ReleaseChecklist
    added: int = 0
    edited: int = 0
    retired: int = 0
    restored: int = 0
    unchanged: int = 0

    def summary(self) -> str:
        parts = [
            f"{n} {word}"
            for n, word in (
                (self.added, "added"),
                (self.edited, "edited"),
                (self.retired, "removed"),
                (self.restored, "restored"),
                (self.unchanged, "unchanged"),
            )
            if n
        ]
        return ", ".join(parts) or "nothing changed"


def checklist_parse(source: bytes, *, name: str = "the file") -> list[Entry]:
    """The checklist items of a Markdown file, each under its nearest heading. Raises ChecklistError."""
    if len(source) > SOURCE_MAX_BYTES:
        raise ChecklistError(f"{name} is larger than {SOURCE_MAX_BYTES // 1000} kB; a checklist is a short text file.")
    try:
        text = source.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        at = source[: exc.start].count(b"\n") + 1
        raise ChecklistError(
            f"{name}, line {at}: this is not UTF-8 text (a binary file?): save the checklist as UTF-8 Markdown."
        ) from exc
    if "\x00" in text:  # valid UTF-8 can still be binary
        at = text[: text.index("\x00")].count("\n") + 1
        raise ChecklistError(f"{name}, line {at}: this is a binary file, not a Markdown checklist.")
    if not text.strip():
        raise ChecklistError(f"{name} is empty: it needs “- [ ] item” lines under headings.")
    entries: list[Entry] = []
    seen: dict[tuple[str, str], int] = {}
    heading = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if match := _HEADING.match(line):
            heading = " ".join((match[2] or "").split())[:HEADING_MAX_LENGTH]
            continue
        match = _ITEM.match(line)
        if not match:
            continue
        words = " ".join((match[2] or "").split())
        if not words:
            raise ChecklistError(f"{name}, line {number}: the checklist item has no text.")
        if len(words) > ITEM_MAX_LENGTH:
            raise ChecklistError(f"{name}, line {number}: keep a checklist item under {ITEM_MAX_LENGTH:,} characters.")
        key = (heading, words)
        if key in seen:
            raise ChecklistError(
                f"{name}, line {number}: “{words}” is listed twice"
                + (f" under “{heading}”" if heading else "")
                + f" (first on line {seen[key]})."
            )
        seen[key] = number
        entries.append(Entry(heading=heading, text=words, line=number))
    if not entries:
        raise ChecklistError(f"{name} has no checklist items: write them as “- [ ] item” lines under headings.")
    return entries


def checklist_import(*, plan: Plan, source: bytes, source_name: str, by: Actor | None = None) -> ImportResult:
    """Import or re-import ``plan``'s release checklist from ``source``; keeps every item's history.

    Parses first, so a bad file writes nothing; the write is one transaction.
    """
    name = source_name or "the file"
    entries = checklist_parse(source, name=name)
    with transaction.atomic():
        checklist, _ = ReleaseChecklist.objects.select_for_update().get_or_create(plan=plan)
        result = ImportResult(checklist=checklist)
        items = list(checklist.items.order_by("position", "pk"))
        live = [item for item in items if not item.retired]
        retired = [item for item in items if item.retired]
        matched: dict[int, ReleaseCheckItem] = {}  # entry index -> item
        claimed: set[int] = set()
        # 1. The same words: the same item, wherever it moved (a retired one comes back).
        for index, entry in enumerate(entries):
            for item in live + retired:
                if item.pk not in claimed and item.text == entry.text:
                    matched[index] = item
                    claimed.add(item.pk)
                    break

        # 2. A changed line at the same place under the same heading: an edit of the item that was there.
        def places(pairs):
            counters: dict[str, int] = {}
            for key, heading in pairs:
                counters[heading] = counters.get(heading, -1) + 1
                yield key, (heading, counters[heading])

        old_places = dict(places((item.pk, item.heading) for item in live))
        new_places = dict(places((index, entry.heading) for index, entry in enumerate(entries)))
        free_by_place = {place: pk for pk, place in old_places.items() if pk not in claimed}
        by_pk = {item.pk: item for item in live}
        for index in range(len(entries)):
            if index in matched:
                continue
            pk = free_by_place.pop(new_places[index], None)
            if pk is not None and pk not in claimed:
                matched[index] = by_pk[pk]
                claimed.add(pk)

        now = timezone.now()
        for position, entry in enumerate(entries):
            found = matched.get(position)
            if found is None:
                item = ReleaseCheckItem.objects.create(
                    checklist=checklist, heading=entry.heading, text=entry.text, position=position
                )
                _revise(item, RevisionAction.ADDED, source=name, by=by, at=now)
                result.added += 1
                continue
            item = found
            previous_text = item.text
            if item.retired:
                action = RevisionAction.RESTORED
                result.restored += 1
            elif item.text != entry.text or item.heading != entry.heading:
                action = RevisionAction.EDITED
                result.edited += 1
            else:
                action = None
                result.unchanged += 1
            ReleaseCheckItem.objects.filter(pk=item.pk).update(
                heading=entry.heading, text=entry.text, position=position, retired=False
            )
            item.heading, item.text, item.position, item.retired = entry.heading, entry.text, position, False
            if action:
                _revise(item, action, source=name, by=by, at=now, previous_text=previous_text)
        for item in live:
            if item.pk not in claimed:
                ReleaseCheckItem.objects.filter(pk=item.pk).update(retired=True)
                item.retired = True
                _revise(item, RevisionAction.RETIRED, source=name, by=by, at=now)
                result.retired += 1
        checklist.source_name = source_name
        checklist.source_sha256 = hashlib.sha256(source).hexdigest()
        checklist.imported_at = now
        checklist.save()
    return result


def _revise(
    item: ReleaseCheckItem, action: str, *, source: str, by: Actor | None, at=None, previous_text: str = ""
) -> ReleaseCheckRevision:
    return ReleaseCheckRevision.objects.create(
        item=item,
        action=action,
        heading=item.heading,
        text=item.text,
        previous_text=previous_text if previous_text != item.text else "",
        source=source,
        by=by,
        created_at=at or timezone.now(),
    )


def _clean(text: str, *, what: str, limit: int, required: bool = True) -> str:
    words = " ".join((text or "").split())
    if required and not words:
        raise ChecklistError(f"Write the {what}.")
    if len(words) > limit:
        raise ChecklistError(f"Keep the {what} under {limit:,} characters.")
    return words


def checklist_item_add(*, plan: Plan, heading: str, text: str, by: Actor) -> ReleaseCheckItem:
    """Add an item at the end of ``plan``'s checklist (under ``heading``)."""
    text = _clean(text, what="checklist item", limit=ITEM_MAX_LENGTH)
    heading = _clean(heading, what="heading", limit=HEADING_MAX_LENGTH, required=False)
    with transaction.atomic():
        checklist, _ = ReleaseChecklist.objects.select_for_update().get_or_create(plan=plan)
        if checklist.items.filter(retired=False, heading=heading, text=text).exists():
            raise ChecklistError(f"“{text}” is already on the checklist.")
        last = checklist.items.order_by("-position").values_list("position", flat=True).first()
        item = ReleaseCheckItem.objects.create(
            checklist=checklist, heading=heading, text=text, position=(last or 0) + 1
        )
        _revise(item, RevisionAction.ADDED, source=PORTAL, by=by)
        checklist.save(update_fields=["updated_at"])
    return item


def checklist_item_edit(*, item: ReleaseCheckItem, text: str, by: Actor) -> ReleaseCheckItem:
    """Change an item's words; the old words stay in its history."""
    text = _clean(text, what="checklist item", limit=ITEM_MAX_LENGTH)
    with transaction.atomic():
        locked = ReleaseCheckItem.objects.select_for_update().get(pk=item.pk)
        if locked.retired:
            raise ChecklistError("This item was removed from the checklist; add it again instead.")
        if locked.text == text:
            return locked
        previous = locked.text
        ReleaseCheckItem.objects.filter(pk=item.pk).update(text=text)
        locked.text = text
        _revise(locked, RevisionAction.EDITED, source=PORTAL, by=by, previous_text=previous)
    return locked


def checklist_item_retire(*, item: ReleaseCheckItem, by: Actor) -> ReleaseCheckItem:
    """Take an item off the checklist. Kept, with its history: past reviews confirmed it."""
    with transaction.atomic():
        locked = ReleaseCheckItem.objects.select_for_update().get(pk=item.pk)
        if locked.retired:
            raise ChecklistError("This item is already off the checklist.")
        ReleaseCheckItem.objects.filter(pk=item.pk).update(retired=True)
        locked.retired = True
        _revise(locked, RevisionAction.RETIRED, source=PORTAL, by=by)
    return locked
