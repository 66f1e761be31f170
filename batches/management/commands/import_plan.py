from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from batches.plan_import import PlanImportError, plan_import, plan_slug_for
from batches.plan_preview import plan_import_preview


class Command(BaseCommand):
    help = (
        "Import (or re-import) a batch delivery plan written in markdown. Re-importing updates the plan "
        "in place and keeps sign-offs; on any error nothing is written. With --dry-run, print what the "
        "import would do (the browser's preview) and write nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The plan's markdown file")
        parser.add_argument("--slug", help="The plan's identity in Gatehouse (default: from the file name)")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print the batches, PRs and gates the import would write; write nothing",
        )

    def handle(self, *args, path: str, slug: str | None, dry_run: bool, **options):
        file = Path(path)
        try:
            source = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from None
        slug = slug or plan_slug_for(file.name)
        if dry_run:
            try:
                preview = plan_import_preview(source=source, slug=slug, source_name=file.name)
            except PlanImportError as exc:
                raise CommandError(f"{file.name}: {exc}") from None
            for line in preview.lines():
                self.stdout.write(line)
            self.stdout.write(self.style.SUCCESS("Dry run: nothing was written."))
            return
        try:
            summary = plan_import(source=source, slug=slug, source_name=file.name)
        except PlanImportError as exc:
            raise CommandError(f"{file.name}: {exc}") from None
        verb = "Imported" if summary.created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} “{summary.plan.title}” as {summary.plan.slug}: {summary.batches} batches, "
                f"{summary.prs} planned PRs, {summary.gates} gates."
            )
        )
