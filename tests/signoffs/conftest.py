"""Evidence test helpers: small images built with Pillow in memory, never fixture files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.factories import ChecklistItemFactory

GPS_IFD = 0x8825


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (40, 30), mode: str = "RGB", **save) -> bytes:
    image = Image.new(mode, size, color=(200, 30, 60) if mode.startswith("RGB") else 120)
    # A few distinct pixels so a re-encode that lost the picture would be noticed.
    for x in range(min(size[0], 10)):
        image.putpixel((x, x % size[1]), (0, 0, 0) if mode.startswith("RGB") else 0)
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def gps_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[GPS_IFD] = {1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.0)}
    return exif


def png_with_gps() -> bytes:
    return image_bytes("PNG", exif=gps_exif().tobytes())


def jpeg_with_gps() -> bytes:
    return image_bytes("JPEG", exif=gps_exif().tobytes(), quality=95)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A genuine 1-bit greyscale PNG of width × height: tiny on disk, 400 megapixels decoded."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


def upload(content: bytes, name: str = "screenshot.png", content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def stored_files() -> list[Path]:
    """Every file in the evidence storage folder (the per-test folder from tests/conftest.py)."""
    root = Path(settings.STORAGES["evidence"]["OPTIONS"]["location"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Personas get real passwords; PBKDF2 at full strength dominated these tests' setup time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def item(db):
    return ChecklistItemFactory(text="Sentry dashboard shows no new errors")


@pytest.fixture
def evidence_item(db):
    return ChecklistItemFactory(text="Screenshot of the Render dashboard", evidence_required=True)


@pytest.fixture
def audited_batch(db, ops, engineer, release_manager):
    """A batch with a checked CI gate, a waived gate, and a manual gate with history and replaced evidence."""
    from datetime import UTC, datetime

    from batches.models import BatchState, GateKind, GateState
    from signoffs.evidence import evidence_add
    from signoffs.services import signoff_record
    from tests.factories import BatchFactory, GateFactory

    batch = BatchFactory(
        plan__slug="release-2025", plan__title="Release plan", number=3, title="Payments", state=BatchState.IN_PROGRESS
    )
    GateFactory(
        batch=batch,
        key="ci",
        kind=GateKind.CI,
        label="make test",
        position=0,
        state=GateState.PASSING,
        detail="pytest passed on abc123",
        last_checked_at=datetime(2025, 10, 2, 9, 30, tzinfo=UTC),
    )
    docs = GateFactory(batch=batch, key="docs", kind=GateKind.DOCS, label="README parity", position=1)
    docs.waive(by=release_manager, reason="Docs ship next batch")
    manual = GateFactory(batch=batch, key="manual", kind=GateKind.MANUAL, label="Ops screenshots", position=2)
    item = ChecklistItemFactory(gate=manual, key="sentry", text="Sentry shows no new errors", evidence_required=True)
    first = evidence_add(item=item, upload=upload(image_bytes("PNG"), name="sentry.png"), by=ops)
    evidence_add(item=item, upload=upload(image_bytes("JPEG"), name="sentry-2.jpg"), by=ops, replaces=first)
    signoff_record(item=item, user=engineer, action="tick", note="Checked at 09:00")
    signoff_record(item=item, user=release_manager, action="note", note='=HYPERLINK("http://evil","x")')
    return batch
