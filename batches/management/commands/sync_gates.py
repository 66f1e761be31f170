from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from batches.models import Batch
from batches.sync import active_batches, batches_sync
from providers.http import request_stats, reset_request_stats


class Command(BaseCommand):
    help = (
        "Sync linked PRs and automated gates once, inline (no worker needed), and print what changed. "
        "Without options: every active batch. An ops debugging tool; beat does this on a schedule."
    )

    def add_arguments(self, parser):
        parser.add_argument("--plan", metavar="SLUG", help="Only this plan's batches")
        parser.add_argument("--batch", type=int, metavar="N", help="Only batch N (with --plan), in any state")

    def handle(self, *args, plan: str | None, batch: int | None, **options):
        if batch is not None and not plan:
            raise CommandError("--batch needs --plan: batch numbers are per plan.")
        if batch is not None:
            batches = list(Batch.objects.select_related("plan").filter(plan__slug=plan, number=batch))
            if not batches:
                raise CommandError(f"Plan “{plan}” has no batch {batch}.")
        else:
            batches = list(active_batches())
            if plan:
                batches = [b for b in batches if b.plan.slug == plan]
                if not Batch.objects.filter(plan__slug=plan).exists():
                    raise CommandError(f"There is no plan “{plan}”.")
        reset_request_stats()
        report = batches_sync(batches=batches)
        for line in report.changes:
            self.stdout.write(line)
        for line in report.skipped:
            self.stdout.write(self.style.WARNING(f"Skipped: {line}"))
        for error in report.errors:
            self.stdout.write(self.style.ERROR(f"Error: {error}"))
        github = request_stats("GitHub")
        self.stdout.write(
            f"Synced {len(batches)} batch{'es' if len(batches) != 1 else ''}: {len(report.changes)} change(s), "
            f"{len(report.errors)} error(s); GitHub requests {github.requests} "
            f"({github.counted} counted against the rate limit, {github.not_modified} not modified)."
        )
