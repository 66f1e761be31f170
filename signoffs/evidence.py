"""Accepting screenshot evidence: decode, re-encode, hash, store under a random name."""

from __future__ import annotations

import hashlib
import io

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image, UnidentifiedImageError

from signoffs.models import ChecklistItem, Evidence

ALLOWED_FORMATS = {"PNG", "JPEG", "WEBP"}


class EvidenceRejected(Exception):
    """The upload is not acceptable evidence. ``str()`` is a sentence for people."""


def evidence_add(*, item: ChecklistItem, upload, by, replaces: Evidence | None = None, note: str = "") -> Evidence:
    """Validate ``upload`` (a Django UploadedFile), store a re-encoded copy and record it.

    The type is decided by decoding the bytes with Pillow, never by the name or
    the browser's content type. What is stored is a fresh encoding, so
    metadata and anything appended to the original are gone.
    """
    if upload.size == 0:
        raise EvidenceRejected("The file is empty.")
    if upload.size > settings.EVIDENCE_MAX_BYTES:
        raise EvidenceRejected(
            f"The file is {upload.size / 1_048_576:.1f} MB; evidence may be at most "
            f"{settings.EVIDENCE_MAX_BYTES / 1_048_576:.0f} MB."
        )
    original = hashlib.sha256()
    for chunk in upload.chunks():
        original.update(chunk)
    upload.seek(0)
    try:
        with Image.open(upload) as image:
            if image.format not in ALLOWED_FORMATS:
                raise EvidenceRejected(f"{image.format} files are not accepted; upload a PNG, JPEG or WebP screenshot.")
            image_format = image.format
            image.load()
            encoded = _reencode(image, image_format)
            width, height = image.size
    except EvidenceRejected:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise EvidenceRejected("The file is not a readable PNG, JPEG or WebP image.") from None

    stored_sha = hashlib.sha256(encoded).hexdigest()
    evidence = Evidence(
        item=item,
        uploaded_by=by,
        original_name=(upload.name or "screenshot")[:255],
        format=image_format,
        width=width,
        height=height,
        original_size=upload.size,
        stored_size=len(encoded),
        original_sha256=original.hexdigest(),
        stored_sha256=stored_sha,
        replaces=replaces,
        note=note,
    )
    with transaction.atomic():
        evidence.file.save("upload", ContentFile(encoded), save=False)
        try:
            evidence.save()
        except Exception:
            evidence.file.storage.delete(evidence.file.name)
            raise
    return evidence


def _reencode(image: Image.Image, image_format: str) -> bytes:
    out = io.BytesIO()
    if image_format == "JPEG":
        image.convert("RGB").save(out, "JPEG", quality=90)
    elif image_format == "WEBP":
        image.save(out, "WEBP", lossless=True)
    else:
        if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            image = image.convert("RGBA")
        image.save(out, "PNG", optimize=False)
    return out.getvalue()
