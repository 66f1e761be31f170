from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from batches.models import GovernanceError
from batches.plan_import import plan_import, plan_slug_for
from batches.pr_linking import PullRequestLinkError
from demo.seed import SeedError, demo_seed, plan_is_untouched
from demo.simulator import demo_providers_wanted, demo_world, simulated_providers, world_path
from portal.roles import Role
from providers.fake import WorldError
from reviews.checklist import ChecklistError
from reviews.services import ReviewError
from signoffs.evidence import EvidenceRejected
from signoffs.services import SignOffError

DEMO_PASSWORD = "gatehouse-demo"
# What a step of the seeding can refuse with a sentence; anything else is a bug and propagates.
SEED_REFUSALS = (
    GovernanceError,  # and WaiverError, a kind of it
    PullRequestLinkError,
    SignOffError,
    EvidenceRejected,
    SeedError,
    ChecklistError,
    ReviewError,
    WorldError,
)


class Command(BaseCommand):
    help = (
        "Prepare the embedded demo: import the sample plan, create one demo user per role (password "
        "gatehouse-demo) and, while the simulated providers are wanted (no provider token set), seed the plan "
        "mid-flight through the product's own actions. Safe to run again: it seeds once, then leaves the data "
        "alone. Refuses to run with DEBUG off."
    )

    def add_arguments(self, parser):
        parser.add_argument("--plan", default=None, help="Plan file (default: the shared sample plan)")

    def handle(self, *args, plan=None, **options):
        if not settings.DEBUG:
            raise CommandError("setup_demo only runs with DEBUG on: it creates users with a known password.")
        users = self._users()
        path = Path(plan) if plan else settings.SAMPLE_PLAN_PATH
        if path.exists():
            summary = plan_import(source=path.read_bytes(), slug=plan_slug_for(path.name), source_name=path.name)
            self.stdout.write(f"Plan “{summary.plan.title}”: {summary.batches} batches, {summary.prs} PRs.")
            self._seed(summary.plan, users)
        else:
            self.stdout.write(f"No sample plan at {path}; import one with `manage.py import_plan PATH`.")
        call_command("check", verbosity=0)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo logins (password “{DEMO_PASSWORD}”): "
                "demo-release-manager, demo-engineer, demo-ops, demo-stakeholder"
            )
        )

    def _users(self) -> dict[str, AbstractUser]:
        User = get_user_model()
        users: dict[str, AbstractUser] = {}
        for role in Role:
            username = f"demo-{role.value.replace('_', '-')}"
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(DEMO_PASSWORD)
                if role == Role.RELEASE_MANAGER:
                    user.is_staff = user.is_superuser = True
                user.save()
            user.groups.add(Group.objects.get(name=role.value))
            users[role.value] = user
        return users

    def _seed(self, plan, users) -> None:
        decision = demo_providers_wanted()
        if not decision.on:
            self.stdout.write(f"Not seeding the demo: {decision.reason}")
            return
        if not plan_is_untouched(plan):
            self.stdout.write("The demo plan is under way already; leaving it as it is.")
            return
        # A fresh simulated world to go with the fresh plan; runportal serves it from the same file.
        with _quiet_logs(), simulated_providers(demo_world(world_path(), fresh=True)) as simulator:
            try:
                lines = demo_seed(
                    plan=plan,
                    simulator=simulator,
                    release_manager=users[Role.RELEASE_MANAGER],
                    engineer=users[Role.ENGINEER],
                    ops=users[Role.OPS],
                )
            except SEED_REFUSALS as exc:
                # Keep going: the portal still serves, with the plan as far as it got.
                self.stderr.write(self.style.WARNING(f"The demo could only be seeded part of the way: {exc}"))
                return
        for line in lines:
            self.stdout.write(f"Seeded {line}")


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """Keep the seeding's expected chatter (each in-process task, the staged Sentry outage) off the console."""
    names = ("celery.app.trace", "kombu.connection", "batches.sync")
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
