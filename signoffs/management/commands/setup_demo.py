from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from batches.services import plan_import, plan_slug_for
from signoffs.roles import Role

DEMO_PASSWORD = "gatehouse-demo"


class Command(BaseCommand):
    help = (
        "Prepare the embedded demo: import the sample plan and create one demo user per role "
        "(password gatehouse-demo). Safe to run again. Refuses to run with DEBUG off."
    )

    def add_arguments(self, parser):
        parser.add_argument("--plan", default=None, help="Plan file (default: the shared sample plan)")

    def handle(self, *args, plan=None, **options):
        if not settings.DEBUG:
            raise CommandError("setup_demo only runs with DEBUG on: it creates users with a known password.")
        path = Path(plan) if plan else settings.SAMPLE_PLAN_PATH
        if path.exists():
            summary = plan_import(source=path.read_bytes(), slug=plan_slug_for(path.name), source_name=path.name)
            self.stdout.write(f"Plan “{summary.plan.title}”: {summary.batches} batches, {summary.prs} PRs.")
        else:
            self.stdout.write(f"No sample plan at {path}; import one with `manage.py import_plan PATH`.")
        User = get_user_model()
        for role in Role:
            username = f"demo-{role.value.replace('_', '-')}"
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(DEMO_PASSWORD)
                if role == Role.RELEASE_MANAGER:
                    user.is_staff = user.is_superuser = True
                user.save()
            user.groups.add(Group.objects.get(name=role.value))
        call_command("check", verbosity=0)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo logins (password “{DEMO_PASSWORD}”): "
                "demo-release-manager, demo-engineer, demo-ops, demo-stakeholder"
            )
        )
