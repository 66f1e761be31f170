"""The worker test runs a sync of the batches' test batch against the fake providers."""

from __future__ import annotations

from tests.batches.conftest import batch, fake, open_prs, plan, providers  # noqa: F401
