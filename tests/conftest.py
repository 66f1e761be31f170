"""Shared fixtures: the five standard personas, the sample plan, and the services gate.

With CI=true the real PostgreSQL and Redis must be reachable: the run fails
rather than silently skipping the tier that needs them. Locally, without them,
those tests are skipped with the reason shown.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test.signals import setting_changed

from tests.factories import UserFactory

REPO = Path(__file__).resolve().parent.parent
SAMPLE_PLAN = REPO / "docs" / "batch-plan-2025-10.md"
IN_CI = os.environ.get("CI") == "true"


def _reachable(url: str | None, default_port: int) -> bool:
    if not url:
        return False
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def services_problem() -> str | None:
    """Why the real-services tier cannot run here, or None when it can."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return "DATABASE_URL does not point at PostgreSQL"
    if not _reachable(f"postgres://{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}", 5432):
        return "PostgreSQL is not reachable"
    if not _reachable(settings.REDIS_URL, 6379):
        return "REDIS_URL is not set or Redis is not reachable"
    return None


def pytest_sessionstart(session):
    if IN_CI and not hasattr(session.config, "workerinput"):
        problem = services_problem()
        if problem:
            raise pytest.UsageError(f"CI=true but the real services are not usable: {problem}.")


def pytest_collection_modifyitems(config, items):
    problem = services_problem()
    if problem is None:
        return
    skip = pytest.mark.skip(reason=f"needs real PostgreSQL and Redis: {problem}")
    for item in items:
        if "services" in item.keywords or "worker" in item.keywords:
            if IN_CI:
                raise pytest.UsageError(f"{item.nodeid} needs the real services: {problem}")
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache_prefix(worker_id):
    # Parallel workers share one Redis in CI; a prefix keeps their keys apart, and a database
    # of their own keeps one worker's cache.clear() (a FLUSHDB) from emptying the other's
    # cache in the middle of a test (a session or user read from the database after all).
    settings.CACHES["default"]["KEY_PREFIX"] = f"test-{worker_id}-{os.getpid()}"
    location = settings.CACHES["default"].get("LOCATION")
    if isinstance(location, str) and location.startswith("redis://"):
        base, _, db = location.rpartition("/")
        number = int(worker_id[2:]) if worker_id.startswith("gw") else 0
        settings.CACHES["default"]["LOCATION"] = f"{base}/{(int(db or 0) + 1 + number) % 15}"
    # Caches already opened (at start-up) were built from the settings before these lines: rebuild them.
    setting_changed.send(sender=None, setting="CACHES", value=settings.CACHES, enter=True)


@pytest.fixture(autouse=True)
def _fresh_process_cache():
    # Each process's own cache (pages.live's copies, by version) would carry a page of one
    # test into another whose ids, and so versions, repeat.
    caches["local"].clear()


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    """Evidence goes to a per-test folder, never to the developer's var/."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media" / "evidence", "base_url": None},
        },
    }
    from django.core.files.storage import storages

    storages._storages.pop("evidence", None)
    yield
    storages._storages.pop("evidence", None)


@pytest.fixture(autouse=True)
def _fresh_rate_limit_ledger():
    """Each test starts with no GitHub rate-limit reading: one test's refusal must not pause another's polling."""
    from batches.polling import CacheRateLimitLedger

    CacheRateLimitLedger().forget("GitHub")
    yield
    CacheRateLimitLedger().forget("GitHub")


@pytest.fixture
def sample_plan_source() -> bytes:
    return SAMPLE_PLAN.read_bytes()


@pytest.fixture
def sample_plan(db, sample_plan_source):
    from batches.plan_import import plan_import

    return plan_import(source=sample_plan_source, slug="batch-plan-2025-10", source_name=SAMPLE_PLAN.name).plan


@pytest.fixture
def release_manager(db):
    return UserFactory(username="rita", role="release_manager")


@pytest.fixture
def engineer(db):
    return UserFactory(username="eddie", role="engineer")


@pytest.fixture
def ops(db):
    return UserFactory(username="olga", role="ops")


@pytest.fixture
def stakeholder(db):
    return UserFactory(username="stan", role="stakeholder")


@pytest.fixture
def outsider(db):
    """Signed in, but in no Gatehouse role."""
    return UserFactory(username="otto", role=None)


@pytest.fixture
def journey(settings, sample_plan, release_manager, engineer, ops):
    """The sample plan wired to the fake providers: see tests/journey.py."""
    from providers.fake import FakeProviders
    from tests.journey import Journey

    fake = FakeProviders().start()
    settings.GITHUB_API_URL = fake.github_url
    settings.GITHUB_WEB_URL = "https://github.com"
    settings.RENDER_API_URL = fake.render_url
    settings.SENTRY_URL = fake.sentry_url
    settings.GITHUB_TOKEN = "ghp-test"
    settings.RENDER_API_KEY = "rnd-test"
    settings.SENTRY_AUTH_TOKEN = "sntrys-test"
    settings.GITHUB_WEBHOOK_SECRET = "It's a Secret to Everybody"
    settings.PROVIDER_TIMEOUT_SECONDS = 5
    trip = Journey(fake=fake, plan=sample_plan, release_manager=release_manager, engineer=engineer, ops=ops)
    trip.configure()
    yield trip
    fake.stop()


@pytest.fixture
def broker_down():
    """Point Celery at a closed loopback port with tasks no longer run in-process: Redis is down."""
    import socket

    from portal.celery import app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url=f"redis://127.0.0.1:{port}/0", task_always_eager=False)
    app.amqp._producer_pool = None
    yield app
    app.conf.update(saved)
    app.amqp._producer_pool = None


def broker_back_up(app) -> None:
    # Redis is back: tasks reach a worker again (here, in-process, as in the embedded default).
    app.conf.update(task_always_eager=True)
    app.amqp._producer_pool = None


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connecting to it is refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_cache_at(url: str, backend: str = "portal.cache.OutageTolerantRedisCache") -> dict:
    """A CACHES entry as production builds it from REDIS_URL (portal/settings.py), at ``url``."""
    return {"BACKEND": backend, "LOCATION": url, "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}


@pytest.fixture
def cache_down(settings):
    """Django's cache on Redis, as in production, with Redis unreachable (a closed loopback port)."""
    settings.CACHES = {"default": redis_cache_at(f"redis://127.0.0.1:{closed_port()}/0")}
    return settings.CACHES["default"]["LOCATION"]


@pytest.fixture
def redis_down(cache_down, broker_down):
    """Redis is down for both of its jobs: the cache and Celery's broker."""
    return broker_down
