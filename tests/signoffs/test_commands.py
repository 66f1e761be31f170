from __future__ import annotations

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command


def test_roles_exist_after_migrate(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {"stakeholder", "ops", "engineer", "release_manager"}


def test_create_user_in_a_role(db, capsys):
    call_command("create_user", "maria", "--role", "ops", "--password", "s3cret-pass-phrase")
    assert "Created maria (Ops)" in capsys.readouterr().out
    user = authenticate(username="maria", password="s3cret-pass-phrase")
    assert list(user.groups.values_list("name", flat=True)) == ["ops"]


def test_create_user_prints_a_generated_password_once(db, capsys):
    call_command("create_user", "ivan", "--role", "engineer")
    out = capsys.readouterr().out
    password = out.rsplit("with password ", 1)[1].strip()
    assert authenticate(username="ivan", password=password) is not None


def test_existing_user_gets_role_added_but_password_is_not_overwritten(db):
    get_user_model().objects.create_user("sam", password="first-password-123")
    call_command("create_user", "sam", "--role", "stakeholder")
    assert authenticate(username="sam", password="first-password-123") is not None
    with pytest.raises(CommandError, match="exists already"):
        call_command("create_user", "sam", "--role", "ops", "--password", "other")


@pytest.mark.django_db(transaction=True)
def test_role_groups_come_back_after_a_flush():
    Group.objects.all().delete()
    call_command("flush", "--no-input")
    assert set(Group.objects.values_list("name", flat=True)) == {"stakeholder", "ops", "engineer", "release_manager"}
