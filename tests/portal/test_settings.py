from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_int, env_list, env_str
from tests.conftest import REPO


def test_env_bool_refuses_truthy_strings(monkeypatch):
    monkeypatch.setenv("X_FLAG", "yes")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG must be one of 1/0/true/false, not 'yes'"):
        env_bool("X_FLAG", False)
    monkeypatch.setenv("X_FLAG", "false")
    assert env_bool("X_FLAG", True) is False


def test_env_int_and_list(monkeypatch):
    monkeypatch.setenv("X_NUM", "abc")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        env_int("X_NUM", 1)
    monkeypatch.setenv("X_NUM", "2")
    with pytest.raises(ImproperlyConfigured, match="at least 5"):
        env_int("X_NUM", 1, minimum=5)
    monkeypatch.setenv("X_LIST", "a.example, b.example,")
    assert env_list("X_LIST", []) == ["a.example", "b.example"]


def test_secrets_can_come_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env_str("X_SECRET") == "from-a-file"
    monkeypatch.delenv("X_SECRET_FILE")
    with pytest.raises(ImproperlyConfigured, match="Set the X_SECRET environment variable"):
        env_str("X_SECRET")


def _manage(*args, **env):
    clean = {
        k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "PORTAL_BASE_URL")
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_production_settings_pass_check_deploy(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="k" * 20 + "-production-secret-with-enough-entropy-0987654321",
        ALLOWED_HOSTS="gatehouse.example.com",
        PORTAL_BASE_URL="https://gatehouse.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_needs_the_portal_address_for_links_in_notifications(tmp_path):
    production = {
        "DEBUG": "false",
        "SECRET_KEY": "k" * 20 + "-production-secret-with-enough-entropy-0987654321",
        "ALLOWED_HOSTS": "gatehouse.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
    }
    result = _manage("check", **production)
    assert result.returncode != 0
    assert "Set the PORTAL_BASE_URL environment variable" in result.stderr
    result = _manage("check", **production, PORTAL_BASE_URL="gatehouse.example.com")
    assert "PORTAL_BASE_URL must start with http:// or https://" in result.stderr


def test_debug_links_default_to_the_first_allowed_host(tmp_path):
    result = _manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.PORTAL_BASE_URL)",
        ALLOWED_HOSTS="portal.test,localhost",
        PORT="8123",
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
    )
    assert result.stdout.strip().splitlines()[-1] == "http://portal.test:8123", result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = _manage("check", DEBUG="false", DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    assert result.returncode != 0
    assert "Set the SECRET_KEY environment variable" in result.stderr


def _database_setting(**env) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_CONN_MAX_AGE")}
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "d = settings.DATABASES['default']; print(json.dumps([d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS']]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_postgresql_connections_are_kept_and_checked_by_default(tmp_path):
    # No connection is opened here: the settings are only read.
    assert _database_setting(DATABASE_URL="postgres://u@db.invalid:5432/g") == [600, True]
    assert _database_setting(DATABASE_URL="postgres://u@db.invalid:5432/g", DATABASE_CONN_MAX_AGE="0") == [0, True]
    assert _database_setting(DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3") == [0, True]
