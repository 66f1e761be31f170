from __future__ import annotations

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


PRODUCTION = {
    "SECRET_KEY": "k" * 20 + "-production-secret-with-enough-entropy-0987654321",
    "ALLOWED_HOSTS": "gatehouse.example.com",
    "PORTAL_BASE_URL": "https://gatehouse.example.com",
}


def _settings_in_a_fresh_process(names: str, **env) -> str:
    """Import portal.settings itself (not the tests' dev-mode wrapper) and print some values."""
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DATABASE_CONN_MAX_AGE", *PRODUCTION)}
    code = f"from portal import settings as s; print({names})"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout.strip() or result.stderr.strip().splitlines()[-1]


# Finding 1: DEBUG defaulted to on.
def test_debug_is_off_unless_asked_for(tmp_path):
    db = {"DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"}
    assert _settings_in_a_fresh_process("s.DEBUG", **PRODUCTION, **db) == "False"
    # No environment at all is production-shaped: it asks for the secret key, it does not serve a dev key.
    assert "Set the SECRET_KEY environment variable" in _settings_in_a_fresh_process("s.DEBUG", **db)
    assert _settings_in_a_fresh_process("s.DEBUG", DEBUG="true", **db) == "True"


# Finding 9: HSTS preload and includeSubDomains were on by default; X-Forwarded-Proto was always trusted.
def test_hsts_preload_subdomains_and_proxy_trust_only_when_asked_for(tmp_path):
    env = {**PRODUCTION, "DEBUG": "false", "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"}
    names = "s.SECURE_HSTS_PRELOAD, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, getattr(s, 'SECURE_PROXY_SSL_HEADER', None)"
    assert _settings_in_a_fresh_process(names, **env) == "False False None"
    asked = {
        "SECURE_HSTS_PRELOAD": "true",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_PROXY_SSL_HEADER_TRUSTED": "true",
    }
    assert _settings_in_a_fresh_process(names, **env, **asked) == "True True ('HTTP_X_FORWARDED_PROTO', 'https')"


def test_check_deploy_is_clean_with_hsts_preload_asked_for(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        **PRODUCTION,
        SECURE_HSTS_PRELOAD="true",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        SECURE_PROXY_SSL_HEADER_TRUSTED="true",
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
    )
    assert result.returncode == 0, result.stderr


def test_an_untrusted_x_forwarded_proto_does_not_make_a_request_secure(rf, settings):
    settings.SECURE_PROXY_SSL_HEADER = None
    assert not rf.get("/", HTTP_X_FORWARDED_PROTO="https").is_secure()


def test_postgresql_connections_are_kept_and_checked_by_default(tmp_path):
    # No connection is opened here: the settings are only read.
    names = "s.DATABASES['default']['CONN_MAX_AGE'], s.DATABASES['default']['CONN_HEALTH_CHECKS']"
    postgres = {**PRODUCTION, "DATABASE_URL": "postgres://u@db.invalid:5432/g"}
    assert _settings_in_a_fresh_process(names, **postgres) == "600 True"
    assert _settings_in_a_fresh_process(names, **postgres, DATABASE_CONN_MAX_AGE="0") == "0 True"
    sqlite = {**PRODUCTION, "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"}
    assert _settings_in_a_fresh_process(names, **sqlite) == "0 True"


def test_the_asgi_web_process_pools_its_postgresql_connections(tmp_path):
    # Under ASGI each request's sync code runs in a thread of its own: a connection kept per
    # thread would be one per request, so portal/asgi.py asks for a pool (DATABASE_POOL).
    names = "s.DATABASES['default']['CONN_MAX_AGE'], s.DATABASES['default'].get('OPTIONS', {}).get('pool')"
    postgres = {**PRODUCTION, "DATABASE_URL": "postgres://u@db.invalid:5432/g"}
    assert _settings_in_a_fresh_process(names, **postgres) == "600 None"
    pooled = "0 {'min_size': 1, 'max_size': 6, 'timeout': 10}"
    assert _settings_in_a_fresh_process(names, **postgres, DATABASE_POOL="true") == pooled
    assert _settings_in_a_fresh_process(names, **postgres, DATABASE_POOL="true", DATABASE_POOL_MAX_SIZE="9") == (
        "0 {'min_size': 1, 'max_size': 9, 'timeout': 10}"
    )
    asgi = "import portal.asgi; from django.conf import settings as s; print(s.DATABASES['default']['OPTIONS'])"
    result = subprocess.run(
        [sys.executable, "-c", asgi],
        cwd=REPO,
        env={**{k: v for k, v in os.environ.items() if k not in ("DEBUG", "DATABASE_POOL")}, **postgres},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "'pool': {'min_size': 1" in result.stdout, result.stderr
    # SQLite (the embedded default) has no pool to ask for.
    sqlite = {**PRODUCTION, "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "DATABASE_POOL": "true"}
    assert _settings_in_a_fresh_process("s.DATABASE_POOL", **sqlite) == "False"


def test_production_caches_on_redis_without_depending_on_it(tmp_path):
    # Pages, ticks, uploads and sign-ins go on while Redis is away: the cache backend misses rather
    # than raises, with short timeouts, and sessions are written through to the database.
    names = "s.CACHES['default']['BACKEND'], s.CACHES['default']['OPTIONS'], s.SESSION_ENGINE"
    env = {**PRODUCTION, "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "REDIS_URL": "redis://r.invalid:6379/0"}
    assert _settings_in_a_fresh_process(names, **env) == (
        "portal.cache.OutageTolerantRedisCache {'socket_connect_timeout': 1, 'socket_timeout': 1} "
        "django.contrib.sessions.backends.cached_db"
    )
