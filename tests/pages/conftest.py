"""The page tests use the apps' fixtures: batches wired to the fake providers, and checklist items with evidence."""

from __future__ import annotations

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
