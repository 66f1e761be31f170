"""The portal tests use the batches' test batch (a sync against the fake providers) and a checklist item."""

from __future__ import annotations

from tests.batches.conftest import batch, fake, open_prs, plan, providers  # noqa: F401
from tests.signoffs.conftest import item  # noqa: F401
