"""Evidence thumbnails: a small WebP preview per stored file, made by a task after the upload commits."""

from __future__ import annotations

import tempfile
from datetime import timedelta

from django.core.files import File
from django.utils import timezone
from PIL import Image

from signoffs.evidence import ALLOWED_FORMATS, THUMBNAIL_SIZE, forget_file
from signoffs.models import Evidence


def evidence_thumbnail_make(*, evidence_id: int) -> bool:
    """Write a small WebP thumbnail for one evidence file; return whether one was written.

    Idempotent: a row that already has a thumbnail is left alone, and if two
    workers race, the conditional update decides and the loser's file is removed.
    """
    evidence = Evidence.objects.filter(pk=evidence_id).first()
    if evidence is None or evidence.thumbnail:
        return False
    storage = evidence.file.storage
    with (
        storage.open(str(evidence.file.name), "rb") as stored,
        Image.open(stored, formats=list(ALLOWED_FORMATS)) as opened,
    ):
        if opened.format == "JPEG":
            opened.draft("RGB", THUMBNAIL_SIZE)  # decode at reduced scale: far less memory
        opened.thumbnail(THUMBNAIL_SIZE)
        image: Image.Image = opened
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if image.has_transparency_data else "RGB")
        with tempfile.TemporaryFile() as out:
            image.save(out, "WEBP", quality=80)
            out.seek(0)
            evidence.thumbnail.save("thumbnail", File(out), save=False)
    claimed = Evidence.objects.filter(pk=evidence_id, thumbnail="").update(thumbnail=evidence.thumbnail.name)
    if not claimed:
        forget_file(evidence.thumbnail)
    return bool(claimed)


def evidence_thumbnails_missing(*, older_than: timedelta, limit: int = 200) -> list[int]:
    """Evidence ids uploaded more than ``older_than`` ago that still have no thumbnail (oldest first)."""
    return list(
        Evidence.objects.filter(thumbnail="", uploaded_at__lt=timezone.now() - older_than)
        .order_by("uploaded_at")
        .values_list("pk", flat=True)[:limit]
    )
