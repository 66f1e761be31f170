"""``manage.py import_checklist PATH --plan SLUG``: import or re-import a plan's release checklist."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from batches.models import Plan
from reviews.checklist import ChecklistError, checklist_import


class Command(BaseCommand):
    help = (
        "Import a plan's release checklist from a Markdown file of “- [ ] item” lines under headings "
        "(e.g. PRODUCTION_DEPLOYMENT_GUIDE.md). Re-importing keeps each item's history; a bad file writes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--plan", required=True, help="The plan's slug")

    def handle(self, *args, path: Path, plan: str, **options) -> None:
        try:
            target = Plan.objects.get(slug=plan)
        except Plan.DoesNotExist as exc:
            raise CommandError(f"No plan “{plan}”.") from exc
        try:
            source = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
        try:
            result = checklist_import(plan=target, source=source, source_name=path.name)
        except ChecklistError as exc:
            raise CommandError(str(exc)) from exc
        count = result.checklist.items.filter(retired=False).count()
        self.stdout.write(f"Imported {count} checklist items for {target.slug} from {path.name}: {result.summary()}.")
