from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from batches.services import PlanImportError, plan_import, plan_slug_for


class Command(BaseCommand):
    help = (
        "Import (or re-import) a batch delivery plan written in markdown. Re-importing updates the plan "
        "in place and keeps sign-offs; on any error nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The plan's markdown file")
        parser.add_argument("--slug", help="The plan's identity in Gatehouse (default: from the file name)")

    def handle(self, *args, path: str, slug: str | None, **options):
        file = Path(path)
        try:
            source = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from None
        try:
            summary = plan_import(source=source, slug=slug or plan_slug_for(file.name), source_name=file.name)
        except PlanImportError as exc:
            raise CommandError(f"{file.name}: {exc}") from None
        verb = "Imported" if summary.created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} “{summary.plan.title}” as {summary.plan.slug}: {summary.batches} batches, "
                f"{summary.prs} planned PRs, {summary.gates} gates."
            )
        )
