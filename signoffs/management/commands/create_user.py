from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.roles import Role


class Command(BaseCommand):
    help = "Create a Gatehouse user in one of the roles (or give an existing user that role)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="Default: a random password, printed once")
        parser.add_argument("--superuser", action="store_true", help="Also give access to the Django admin")

    def handle(self, *args, username, role, email, password, superuser, **options):
        User = get_user_model()
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=username, defaults={"email": email})
            if not created and not generated:
                raise CommandError(f"{username} exists already; leave --password out to only add the role.")
            if created:
                user.set_password(password)
            if superuser:
                user.is_staff = user.is_superuser = True
            user.save()
            try:
                user.groups.add(Group.objects.get(name=role))
            except Group.DoesNotExist:
                raise CommandError("The role groups are missing: run `manage.py migrate` first.") from None
        if created:
            shown = f" with password {password}" if generated else ""
            self.stdout.write(self.style.SUCCESS(f"Created {username} ({Role(role).label}){shown}"))
        else:
            self.stdout.write(self.style.SUCCESS(f"{username} now has the {Role(role).label} role"))
