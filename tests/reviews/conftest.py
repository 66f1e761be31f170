"""The reviews tests: the sample plan's default release checklist, imported as a release manager would."""

from __future__ import annotations

import pytest

from tests.conftest import REPO

GUIDE = REPO / "docs" / "PRODUCTION_DEPLOYMENT_GUIDE.md"


@pytest.fixture
def checklist(sample_plan, release_manager):
    from reviews.checklist import checklist_import

    return checklist_import(
        plan=sample_plan, source=GUIDE.read_bytes(), source_name=GUIDE.name, by=release_manager
    ).checklist


@pytest.fixture
def ready_batch(journey, checklist):
    """Batch 1 of the sample plan, every gate passing, marked ready for review."""
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.pass_everything(batch)
    batch.mark_ready(by=journey.release_manager)
    batch.refresh_from_db()
    return batch
