"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

Without /usr/bin/chromium they are skipped with the reason locally, and fail
when CI=true (`.ci/run` installs the package, so a missing browser there is a bug).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import IN_CI

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def browser_problem() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


def pytest_collection_modifyitems(config, items):
    problem = browser_problem()
    if problem is None:
        return
    for item in items:
        if "browser" in item.keywords:
            if IN_CI:
                raise pytest.UsageError(f"CI=true but {item.nodeid} cannot run: {problem}.")
            item.add_marker(pytest.mark.skip(reason=f"needs Chromium: {problem}"))


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def browser(transactional_db, monkeypatch):
    """One Chromium per test, started after the database and stopped before its flush.

    Playwright's sync API keeps an event loop running in the test thread, and
    Django refuses ORM calls from such a thread unless DJANGO_ALLOW_ASYNC_UNSAFE
    is set (safe here: this thread serves no async requests). The variable is set
    only while the browser runs, so it never leaks into other tests or their
    subprocesses (``check --deploy`` rightly fails on it).
    """
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # ORM calls made while Playwright's loop runs get their own connection
        # (Django's connection store is context-local); close it here, in that
        # context, or it outlives the test and blocks dropping the test database.
        from django.db import connections

        connections.close_all()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


from tests.reviews.conftest import checklist, ready_batch  # noqa: E402, F401
