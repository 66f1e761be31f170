"""The page tests use the apps' fixtures: batches wired to the fake providers, and checklist items with evidence."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.batches.conftest import (  # noqa: F401
    _fast_password_hashing,
    ai_gate,
    batch,
    big_plan,
    fake,
    open_prs,
    plan,
    providers,
    small_plan,
)
from tests.reviews.conftest import checklist, ready_batch  # noqa: F401
from tests.signoffs.conftest import audited_batch, evidence_item, item  # noqa: F401


@pytest.fixture(autouse=True)
def _fresh_live_versions(settings):
    # Polls in a test follow each other within milliseconds: read the version afresh each
    # time (the shared reading is tested on its own in test_live.py).
    settings.LIVE_VERSION_CACHE_MS = 0


@pytest.fixture(autouse=True)
def _no_cached_renders():
    # Rendered live regions are cached by version; ids (and so versions) repeat across tests.
    cache.clear()
