"""Celery tasks for sign-offs: thin wrappers that take ids and call a service."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.db import InterfaceError, OperationalError

from signoffs.thumbnails import evidence_thumbnail_make, evidence_thumbnails_missing

# An upload's thumbnail is queued when it commits; one still missing after this long (the broker
# was down, or the task failed for good) is queued again by the catch-up pass.
THUMBNAIL_GRACE = timedelta(minutes=2)


# OSError: storage hiccups; the database errors: it is away for now. Both retried with backoff.
@shared_task(autoretry_for=(OSError, OperationalError, InterfaceError), retry_backoff=True, max_retries=5)
def make_evidence_thumbnail(evidence_id: int) -> bool:
    """Write the small WebP preview for one evidence file (idempotent)."""
    return evidence_thumbnail_make(evidence_id=evidence_id)


def thumbnails_catch_up(*, older_than: timedelta = THUMBNAIL_GRACE) -> int:
    """Queue a thumbnail for every evidence file that should have one by now; how many were queued."""
    missing = evidence_thumbnails_missing(older_than=older_than)
    for evidence_id in missing:
        make_evidence_thumbnail.delay(evidence_id)
    return len(missing)


@shared_task(ignore_result=True, autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=5)
def thumbnails_catch_up_task() -> int:
    """Beat's entry point for :func:`thumbnails_catch_up`."""
    return thumbnails_catch_up()
