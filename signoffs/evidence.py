"""Accepting screenshot evidence: decode, re-encode, hash, store under a random name.

What an upload must survive before it is stored:

1. It is a PNG, JPEG or WebP *as decoded by Pillow* (restricted to those three
   plugins). The file name and the browser's content type are never consulted.
2. Its container ends where the image ends: bytes after PNG's IEND chunk,
   JPEG's EOI marker or beyond the RIFF size of a WebP are a polyglot payload
   and refused; a container that stops early is truncated and refused.
3. Its declared pixel count is below ``EVIDENCE_MAX_PIXELS`` and its decoded
   size (4 bytes a pixel: how Pillow holds RGB(A), and what re-encoding makes of
   any mode) within ``EVIDENCE_MAX_DECODED_BYTES``, both checked from the header
   before any pixel is decoded; and it decodes completely.

What is stored is a fresh encoding written by Pillow with no metadata carried
over, so EXIF/GPS, text chunks and appended payloads are gone. The EXIF
orientation of a JPEG or WebP is baked into the pixels first, so the stored copy
is upright, and the width and height recorded are the stored copy's (a phone's
portrait photo: the upload's swapped). Both hashes are recorded: the original's
(what the uploader had) and the stored file's.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models.fields.files import FieldFile
from django.template.defaultfilters import filesizeformat
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from batches.models import Batch, BatchState
from portal.roles import Actor
from signoffs.models import ChecklistItem, Evidence
from signoffs.services import manual_gate_refresh

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")
THUMBNAIL_SIZE = (320, 320)
_ACCEPTED = "upload a PNG, JPEG or WebP screenshot"


class EvidenceRejected(Exception):
    """The upload is not acceptable evidence. ``str()`` is a sentence for people."""


def evidence_add(
    *, item: ChecklistItem, upload: UploadedFile, by: Actor, replaces: Evidence | None = None, note: str = ""
) -> Evidence:
    """Validate ``upload`` (a Django UploadedFile), store a re-encoded copy and record it.

    Raises :class:`EvidenceRejected` with a sentence for the uploader when the
    file is not acceptable; then nothing is stored and no row is written.
    ``replaces`` is an earlier, not yet replaced file of the same item: it stays
    in the history and the new row points back at it. An approved batch's
    evidence is final, as its ticks are (``signoff_record``): nothing is added
    or replaced once the batch is approved.

    Call it outside any long transaction: the stored file is written before the
    row, and is removed again if the row cannot be written here, but a rollback
    of an outer transaction cannot be observed.
    """
    # Cheap refusals first, before the upload is decoded; both are decided
    # again under the locks below, from the rows as they are then.
    _check_open(_batch_of(item))
    if replaces is not None:
        _check_replaceable(item=item, replaces=replaces)
    checked = evidence_check(upload)
    with tempfile.TemporaryFile(prefix="gatehouse-evidence-") as encoded:
        stored = checked.reencode_into(encoded)
        evidence = Evidence(
            item=item,
            uploaded_by=by,
            original_name=_display_name(getattr(upload, "name", None)),
            format=checked.format,
            # The stored file's dimensions: a photo turned upright from its EXIF
            # orientation is recorded (and laid out by <img>) as it is stored.
            width=stored.width,
            height=stored.height,
            original_size=checked.size,
            stored_size=stored.size,
            original_sha256=checked.sha256,
            stored_sha256=stored.sha256,
            replaces=replaces,
            note=note.strip(),
        )
        encoded.seek(0)
        # upload_to ignores this name and picks a random one: nothing the
        # uploader wrote ever reaches the storage path.
        evidence.file.save("evidence", File(encoded), save=False)
    try:
        with transaction.atomic():
            # The batch row first (top-down, the order plan re-import writes in):
            # Batch.approve() locks the same row, so an approval either waits for
            # this upload to commit or has committed and is seen here; no file
            # lands on a batch after its approval.
            _check_open(_batch_of(item, lock=True))
            # Serialise writers on the item so the replacement checks below see
            # every committed replacement (the OneToOne constraint backs this up).
            ChecklistItem.objects.select_for_update().filter(pk=item.pk).first()
            if replaces is not None:
                _check_replaceable(item=item, replaces=replaces, fresh=True)
            evidence.save()
            # A screenshot can complete a manual gate whose items are all ticked.
            manual_gate_refresh(gate_id=item.gate_id)
            # robust: a thumbnail failure is logged, it must not fail an upload
            # that is already committed.
            evidence_id = evidence.pk
            transaction.on_commit(lambda: _enqueue_thumbnail(evidence_id), robust=True)
    except IntegrityError:
        forget_file(evidence.file)
        raise EvidenceRejected("That file has just been replaced by someone else; reload and try again.") from None
    except BaseException:
        forget_file(evidence.file)
        raise
    return evidence


def forget_file(field: FieldFile) -> None:
    """Remove a stored file whose row was never written."""
    if field.name:
        field.storage.delete(field.name)


def evidence_replace(*, old: Evidence, upload: UploadedFile, by: Actor, note: str = "") -> Evidence:
    """Upload a new file for ``old``'s item that supersedes ``old`` (which is kept)."""
    return evidence_add(item=old.item, upload=upload, by=by, replaces=old, note=note)


def _batch_of(item: ChecklistItem, *, lock: bool = False) -> Batch:
    # Read fresh (the caller's item may be stale), and lock only the batch row:
    # without of=self PostgreSQL would also lock the gate and item rows joined here.
    batches = Batch.objects.select_for_update(of=("self",)) if lock else Batch.objects
    return batches.only("number", "state").get(gates__items=item.pk)


def _check_open(batch: Batch) -> None:
    if batch.state == BatchState.APPROVED:
        raise EvidenceRejected(f"Batch {batch.number} is approved; its evidence is final. Add a note instead.")


def _check_replaceable(*, item: ChecklistItem, replaces: Evidence, fresh: bool = False) -> None:
    if fresh:
        replaces = Evidence.objects.get(pk=replaces.pk)
    if replaces.item_id != item.pk:
        raise EvidenceRejected("A file can only be replaced by a file for the same checklist item.")
    if Evidence.objects.filter(replaces=replaces).exists():
        raise EvidenceRejected("That file has already been replaced; replace the newest file instead.")


def _enqueue_thumbnail(evidence_id: int) -> None:
    from signoffs.tasks import make_evidence_thumbnail

    make_evidence_thumbnail.delay(evidence_id)


@dataclass(frozen=True)
class StoredImage:
    """What was written by :meth:`CheckedImage.reencode_into`."""

    sha256: str
    size: int
    width: int
    height: int


class CheckedImage:
    """An upload that passed every check, open and decoded, ready to re-encode.

    It has no width and height of its own on purpose: the stored copy's can
    differ from the upload's (turned upright from its EXIF orientation), and
    what is recorded is the stored copy's, from :meth:`reencode_into`.
    """

    def __init__(self, *, image: Image.Image, size: int, sha256: str) -> None:
        self.image = image
        self.format: str = image.format or ""
        self.size = size
        self.sha256 = sha256

    def reencode_into(self, out: IO[bytes]) -> StoredImage:
        """Write a metadata-free encoding to ``out``; return its SHA-256, size and pixel dimensions."""
        image = self.image
        try:
            width, height = _reencode(image, self.format, out)
        finally:
            image.close()
        out.seek(0)
        digest = hashlib.sha256()
        size = 0
        while chunk := out.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        return StoredImage(sha256=digest.hexdigest(), size=size, width=width, height=height)


def evidence_check(upload: UploadedFile) -> CheckedImage:
    """Every check on an upload; raise :class:`EvidenceRejected` or return the decoded image."""
    size = upload.size or 0
    if size == 0:
        raise EvidenceRejected("The file is empty (0 bytes); " + _ACCEPTED + ".")
    if size > settings.EVIDENCE_MAX_BYTES:
        raise EvidenceRejected(_too_large_message(size))

    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)

    head = upload.read(512)
    upload.seek(0)
    image = _open(upload, head)
    try:
        with _second_handle(upload) as fp:
            _check_container(image.format or "", _Window(fp, size))
        _decode(image)
    except BaseException:
        image.close()
        raise
    return CheckedImage(image=image, size=size, sha256=digest.hexdigest())


def _too_large_message(size: int | None) -> str:
    limit = filesizeformat(settings.EVIDENCE_MAX_BYTES)
    if size is None:
        return f"The file is larger than {limit}, the most evidence may be; upload a smaller screenshot."
    return f"The file is {filesizeformat(size)}; evidence may be at most {limit}."


def _open(upload: UploadedFile, head: bytes) -> Image.Image:
    try:
        # Restricting the plugins is the type decision: only these three decoders
        # ever look at the bytes. (No warnings.catch_warnings() here: it swaps
        # process-wide state and is not thread-safe; SignoffsConfig.ready() makes
        # DecompressionBombWarning an error once, and the pixel check below
        # refuses from the header before Pillow's warning zone is reached.)
        image = Image.open(upload, formats=list(ALLOWED_FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as bomb:
        # Pillow refused from the header alone; its message carries the pixel count.
        pixels = re.search(r"\((\d+) pixels\)", str(bomb))
        raise EvidenceRejected(_bomb_message(None, int(pixels[1]) if pixels else None)) from None
    except UnidentifiedImageError:
        raise EvidenceRejected(_describe_unaccepted(head)) from None
    except (OSError, SyntaxError, ValueError, struct.error, EOFError):
        raise EvidenceRejected(_damaged(head)) from None
    width, height = image.size
    if width * height > settings.EVIDENCE_MAX_PIXELS:
        image.close()
        raise EvidenceRejected(_bomb_message((width, height)))
    # A small, very compressible file can declare an image that costs hundreds of MB to hold once
    # decoded (and again for the upright, re-encoded copy): refuse it from the header.
    decoded = width * height * DECODED_BYTES_PER_PIXEL
    if decoded > settings.EVIDENCE_MAX_DECODED_BYTES:
        image.close()
        raise EvidenceRejected(
            f"The image is {width:,} × {height:,} pixels: decoding it would take {filesizeformat(decoded)} of memory, "
            f"more than the {filesizeformat(settings.EVIDENCE_MAX_DECODED_BYTES)} evidence may use; "
            "upload a smaller screenshot."
        )
    if getattr(image, "n_frames", 1) > 1:
        image.close()
        raise EvidenceRejected("Animated images are not accepted; upload a still screenshot.")
    return image


# Pillow holds RGB, RGBA and most other modes in 4 bytes a pixel, and the stored copy is RGB(A).
DECODED_BYTES_PER_PIXEL = 4


def _bomb_message(size: tuple[int, int] | None, pixels: int | None = None) -> str:
    limit = f"{settings.EVIDENCE_MAX_PIXELS / 1_000_000:.0f} megapixels"
    if size is None:
        declared = f" ({pixels / 1_000_000:,.0f} megapixels)" if pixels else ""
        return (
            f"The image is too large to decode safely{declared}: evidence may be at most {limit}; "
            "upload a smaller screenshot."
        )
    width, height = size
    return (
        f"The image is {width:,} × {height:,} pixels ({width * height / 1_000_000:,.0f} megapixels); "
        f"evidence may be at most {limit}."
    )


def _decode(image: Image.Image) -> None:
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise EvidenceRejected(_bomb_message(image.size)) from None
    except (OSError, SyntaxError, ValueError, struct.error, EOFError, MemoryError):
        raise EvidenceRejected(
            f"The {_label(image.format)} image is truncated or damaged and cannot be decoded; upload it again."
        ) from None


def _label(image_format: str | None) -> str:
    return {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}.get(image_format or "", "image")


def _damaged(head: bytes) -> str:
    for signature, label in ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG")):
        if head.startswith(signature):
            return f"The {label} image is truncated or damaged and cannot be read; upload it again."
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "The WebP image is truncated or damaged and cannot be read; upload it again."
    return "The file is not a readable PNG, JPEG or WebP image. Upload a screenshot in one of those formats."


def _describe_unaccepted(head: bytes) -> str:
    """A specific sentence for a file Pillow's three decoders refused.

    Only the message is chosen here; acceptance was already refused by Pillow.
    """
    sniff = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    known = (
        (sniff.startswith(b"%pdf-") or b"%pdf-" in head[:1024], "PDF documents"),
        (b"<svg" in sniff, "SVG images"),
        (sniff.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<script")), "HTML pages"),
        (head.startswith((b"GIF87a", b"GIF89a")), "GIF images"),
        (head.startswith(b"BM"), "BMP images"),
        (head.startswith((b"II*\x00", b"MM\x00*")), "TIFF images"),
        (head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"), "HEIC/AVIF images"),
        (sniff.startswith(b"<?xml"), "XML documents"),
        (head.startswith(b"PK\x03\x04"), "ZIP archives and Office documents"),
    )
    for matched, what in known:
        if matched:
            return f"{what} are not accepted; {_ACCEPTED}."
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"RIFF")):
        return "The image is damaged and cannot be read; " + _ACCEPTED + "."
    return "The file is not a readable PNG, JPEG or WebP image. Upload a screenshot in one of those formats."


# -- container ends ----------------------------------------------------------------
# Pillow stops reading once it has the pixels, so bytes appended after the
# image (a ZIP, a script, an HTML page) would pass decoding. These walk the
# container's own structure to where it says it ends and insist the file ends
# there too.


def _check_container(image_format: str, data: _Window) -> None:
    try:
        end = {"PNG": _png_end, "JPEG": _jpeg_end, "WEBP": _webp_end}[image_format](data)
    except _Truncated:
        raise EvidenceRejected(
            f"The {_label(image_format)} image is truncated or malformed (the file stops before the image ends); "
            "upload it again."
        ) from None
    if end < data.size:
        extra = data.size - end
        raise EvidenceRejected(
            f"The {_label(image_format)} image has {extra:,} bytes of other data appended after its end; "
            "only plain screenshots are accepted."
        )


class _Truncated(Exception):
    pass


class _Window:
    """Random access to the upload through a 1 MB read window.

    Reads rather than memory-maps: a mapping's pages count towards the process's
    memory as they are touched (with fault-around, the whole file), while a
    window keeps the walk at 1 MB however large the upload.
    """

    BLOCK = 1 << 20

    def __init__(self, fp: IO[bytes], size: int) -> None:
        self.fp = fp
        self.size = size
        self.start = 0
        self.buffer = b""

    def _cover(self, pos: int, length: int) -> None:
        if not (self.start <= pos and pos + length <= self.start + len(self.buffer)):
            self.fp.seek(pos)
            self.buffer = self.fp.read(max(length, self.BLOCK))
            self.start = pos

    def read(self, pos: int, length: int) -> bytes:
        """``length`` bytes at ``pos``; raises _Truncated if the file ends first."""
        self._cover(pos, length)
        chunk = self.buffer[pos - self.start : pos - self.start + length]
        if len(chunk) < length:
            raise _Truncated
        return chunk

    def find_ff(self, pos: int) -> int:
        """Position of the next 0xFF byte at or after ``pos``; raises _Truncated if none."""
        while pos < self.size:
            self._cover(pos, 1)
            if not self.buffer:
                break
            found = self.buffer.find(b"\xff", pos - self.start)
            if found >= 0:
                return self.start + found
            pos = self.start + len(self.buffer)
        raise _Truncated


def _png_end(data: _Window) -> int:
    pos = 8
    while True:
        length, chunk_type = struct.unpack(">I4s", data.read(pos, 8))
        pos += 12 + length
        if pos > data.size:
            raise _Truncated
        if chunk_type == b"IEND":
            return pos


def _jpeg_end(data: _Window) -> int:
    pos = 2  # after SOI
    while True:
        prefix, marker = data.read(pos, 2)
        if prefix != 0xFF:
            raise _Truncated  # not at a marker where one must be: the structure is broken
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xD9:  # EOI
            return pos + 2
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data.read(pos + 2, 2))
        pos += 2 + length
        if pos > data.size:
            raise _Truncated
        if marker == 0xDA:  # SOS: entropy-coded data runs to the next real marker
            while True:
                pos = data.find_ff(pos)
                following = data.read(pos + 1, 1)[0]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    pos += 2  # stuffed byte or restart marker: still inside the scan
                    continue
                if following == 0xFF:
                    pos += 1
                    continue
                break


def _webp_end(data: _Window) -> int:
    (riff_size,) = struct.unpack("<I", data.read(4, 4))
    end = 8 + riff_size + (riff_size & 1)
    if end > data.size:
        raise _Truncated
    return end


@contextmanager
def _second_handle(upload: UploadedFile) -> Iterator[IO[bytes]]:
    """A read handle of its own on the upload, so walking it never moves Pillow's position."""
    path = getattr(upload, "temporary_file_path", None)
    if path is not None:
        with open(path(), "rb") as fp:
            yield fp
        return
    position = upload.tell()
    upload.seek(0)
    content = upload.read()  # in memory already: at most FILE_UPLOAD_MAX_MEMORY_SIZE
    upload.seek(position)
    yield io.BytesIO(content)


# -- re-encoding -------------------------------------------------------------------

_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"}


def _reencode(image: Image.Image, image_format: str, out: IO[bytes]) -> tuple[int, int]:
    """Encode ``image`` afresh into ``out`` with nothing but pixels (and transparency).

    Returns the encoded image's (width, height): swapped from the upload's when
    an EXIF orientation of 5 to 8 was baked into the pixels.

    Memory: the decoded bitmap exists once; conversions happen only when the
    mode cannot be written as it is, and the encoder streams to ``out``.
    """
    orientation = image.getexif().get(0x0112, 1) if image_format in ("JPEG", "WEBP") else 1
    if orientation != 1:
        # The orientation tag is about to be stripped; bake it into the pixels so
        # the screenshot still reads the right way up.
        image = ImageOps.exif_transpose(image) or image
    keep: dict[str | tuple[int, int], Any] = (
        {"transparency": image.info["transparency"]} if "transparency" in image.info else {}
    )
    image.info = keep  # metadata (EXIF, XMP, ICC, text chunks) is not carried over
    if image_format == "JPEG":
        if image.mode not in ("L", "RGB"):
            image = image.convert("RGB")
        if isinstance(image, JpegImagePlugin.JpegImageFile):
            # Re-use the original's quantisation tables and subsampling: a second
            # lossy pass at the same quality, not a fresh quality guess.
            image.save(out, "JPEG", quality="keep", subsampling="keep")
        else:
            image.save(out, "JPEG", quality=90)
    elif image_format == "WEBP":
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if image.has_transparency_data else "RGB")
        image.save(out, "WEBP", lossless=True, method=2, exif=b"", icc_profile=None, xmp=b"")
    else:
        if image.mode not in _PNG_MODES:
            image = image.convert("RGBA" if image.has_transparency_data else "RGB")
        # Level 3: within 1% of level 6 on noisy images and 8% on screenshots, at a
        # third to a quarter of the time (bench/evidence_upload.py).
        image.save(out, "PNG", compress_level=3)
    return image.size


def _display_name(name: str | None) -> str:
    # Shown to people only (escaped by templates, never a path): drop control
    # characters and any directory part the browser sent.
    cleaned = "".join(ch for ch in (name or "") if ch.isprintable())
    cleaned = cleaned.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return (cleaned or "screenshot")[:255]
