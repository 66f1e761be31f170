"""Provider client fixtures: the fake provider server on loopback, and settings pointing every client at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers.fake import FakeProviders


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    server = FakeProviders().start()
    yield server
    server.stop()


@pytest.fixture
def providers(settings, fake: FakeProviders) -> FakeProviders:
    """Point every client at the fake server, with credentials set."""
    settings.GITHUB_API_URL = fake.github_url
    settings.RENDER_API_URL = fake.render_url
    settings.SENTRY_URL = fake.sentry_url
    settings.GITHUB_TOKEN = "ghp-test"
    settings.RENDER_API_KEY = "rnd-test"
    settings.SENTRY_AUTH_TOKEN = "sntrys-test"
    settings.PROVIDER_TIMEOUT_SECONDS = 5
    return fake
