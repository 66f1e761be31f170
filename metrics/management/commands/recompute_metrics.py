"""``manage.py recompute_metrics [--plan SLUG]``: recompute the stored metrics of every approved batch."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from batches.models import Plan
from metrics.services import plan_metrics_recompute


class Command(BaseCommand):
    help = "Recompute the delivery metrics of every approved batch (of one plan, or of all)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--plan", help="the plan's slug (default: every plan)")

    def handle(self, *args, plan: str | None = None, **options) -> None:
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
