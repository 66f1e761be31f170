"""Celery tasks for sign-offs: thin wrappers that take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from signoffs.thumbnails import evidence_thumbnail_make


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def make_evidence_thumbnail(evidence_id: int) -> bool:
    """Write the small WebP preview for one evidence file (idempotent)."""
    return evidence_thumbnail_make(evidence_id=evidence_id)
