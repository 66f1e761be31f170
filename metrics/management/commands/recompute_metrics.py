"""``manage.py recompute_metrics [--plan SLUG | --due]``: recompute the stored metrics of approved batches."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from batches.models import Plan
from metrics.services import metrics_periodic, plan_metrics_recompute


class Command(BaseCommand):
    help = "Recompute the delivery metrics of every approved batch (of one plan, or of all)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--plan", help="the plan's slug (default: every plan)")
        parser.add_argument(
            "--due",
            action="store_true",
            help="only the batches whose escape window was still open, or whose providers could not be read",
        )

    def handle(self, *args, plan: str | None = None, due: bool = False, **options) -> None:
        if due:
            count = metrics_periodic()
            self.stdout.write(f"{count} batch{'es' if count != 1 else ''} recomputed.")
            return
        plans = Plan.objects.order_by("slug")
        if plan:
            plans = plans.filter(slug=plan)
            if not plans.exists():
                raise CommandError(f"No plan “{plan}”.")
        for each in plans:
            count = plan_metrics_recompute(plan=each)
            stale = each.batches.filter(metrics__stale=True).count()
            line = f"{each.slug}: {count} approved batch{'es' if count != 1 else ''} recomputed"
            if stale:
                line += f", {stale} with a provider that could not be read (see the metrics page)"
            self.stdout.write(line + ".")
