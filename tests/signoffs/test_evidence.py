from __future__ import annotations

import hashlib
import io
import os

import pytest
from django.apps import apps
from django.core.files.uploadedfile import TemporaryUploadedFile
from PIL import Image

from signoffs.evidence import EvidenceRejected, evidence_add, evidence_replace
from signoffs.itemstate import item_state
from signoffs.models import Evidence, SignOff
from signoffs.services import SignOffError, signoff_record
from signoffs.thumbnails import evidence_thumbnail_make
from tests.signoffs.conftest import (
    GPS_IFD,
    gps_exif,
    image_bytes,
    jpeg_with_gps,
    png_bomb,
    png_chunk,
    png_with_gps,
    stored_files,
    upload,
)

ORIENTATION = 0x0112

SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
HTML = b"<!DOCTYPE html><html><body><script>fetch('/admin/')</script></body></html>"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ZIP_PAYLOAD = b"PK\x03\x04" + b"\x00" * 26 + b"<script>alert(1)</script>"


def _bad_uploads():
    png = image_bytes("PNG")
    jpeg = image_bytes("JPEG")
    webp = image_bytes("WEBP")
    animated = io.BytesIO()
    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "blue")]
    frames[0].save(animated, "PNG", save_all=True, append_images=frames[1:])
    return [
        pytest.param(SVG, "drawing.svg", r"^SVG images are not accepted", id="svg"),
        pytest.param(SVG.replace(b"<?xml", b"  <?xml"), "x.png", r"^SVG images are not accepted", id="svg-as-png"),
        pytest.param(HTML, "page.png", r"^HTML pages are not accepted", id="html"),
        pytest.param(PDF, "report.pdf", r"^PDF documents are not accepted", id="pdf"),
        pytest.param(
            png + ZIP_PAYLOAD,
            "poly.png",
            rf"^The PNG image has {len(ZIP_PAYLOAD)} bytes of other data appended",
            id="polyglot-png",
        ),
        pytest.param(
            jpeg + HTML,
            "poly.jpg",
            rf"^The JPEG image has {len(HTML)} bytes of other data appended",
            id="polyglot-jpeg",
        ),
        pytest.param(
            webp + b"<?php", "poly.webp", r"^The WebP image has 5 bytes of other data appended", id="polyglot-webp"
        ),
        pytest.param(png[: len(png) // 2], "cut.png", r"^The PNG image is truncated", id="truncated-png"),
        pytest.param(png[:-12], "no-iend.png", r"^The PNG image is truncated", id="png-without-iend"),
        pytest.param(jpeg[: len(jpeg) // 2], "cut.jpg", r"^The JPEG image is truncated", id="truncated-jpeg"),
        pytest.param(webp[:-10], "cut.webp", r"^The WebP image is truncated", id="truncated-webp"),
        pytest.param(b"", "empty.png", r"^The file is empty \(0 bytes\)", id="zero-bytes"),
        pytest.param(
            os.urandom(4096),
            "noise.png",
            r"^The file is not a readable PNG, JPEG or WebP image\. Upload a screenshot",
            id="random-bytes",
        ),
        pytest.param(image_bytes("GIF"), "anim.png", r"^GIF images are not accepted", id="gif"),
        pytest.param(image_bytes("BMP"), "shot.bmp", r"^BMP images are not accepted", id="bmp"),
        pytest.param(image_bytes("TIFF"), "shot.tiff", r"^TIFF images are not accepted", id="tiff"),
        pytest.param(animated.getvalue(), "anim.png", r"^Animated images are not accepted", id="apng"),
        pytest.param(
            png_bomb(), "bomb.png", r"^The image is too large to decode safely \(400 megapixels\)", id="bomb-20k"
        ),
    ]


@pytest.mark.parametrize(("content", "name", "message"), _bad_uploads())
def test_bad_upload_is_refused_with_its_message_and_leaves_nothing(item, ops, content, name, message):
    with pytest.raises(EvidenceRejected, match=message):
        evidence_add(item=item, upload=upload(content, name=name), by=ops)
    assert not Evidence.objects.exists()
    assert stored_files() == []


def test_oversize_upload_is_refused(item, ops, settings):
    settings.EVIDENCE_MAX_BYTES = 1024 * 1024
    big = image_bytes("PNG", size=(1200, 1200), mode="RGB", compress_level=0)
    assert len(big) > settings.EVIDENCE_MAX_BYTES
    with pytest.raises(EvidenceRejected, match=r"^The file is 4\.1\xa0MB; evidence may be at most 1\.0\xa0MB\."):
        evidence_add(item=item, upload=upload(big), by=ops)
    assert not Evidence.objects.exists()
    assert stored_files() == []


def test_image_between_the_pixel_setting_and_pillows_hard_limit_is_refused(item, ops, settings):
    # Pillow alone would only *warn* here (limit < pixels < 2 × limit).
    settings.EVIDENCE_MAX_PIXELS = 1_000
    with pytest.raises(EvidenceRejected, match=r"^The image is 40 × 30 pixels .*at most 0 megapixels"):
        evidence_add(item=item, upload=upload(image_bytes("PNG", size=(40, 30))), by=ops)
    assert stored_files() == []


def test_decompression_bomb_warning_is_an_error_for_every_decode():
    # SignoffsConfig.ready() sets Pillow's guard from the setting and makes its
    # warning an error (pytest resets warning filters per test, so run it here).
    apps.get_app_config("signoffs").ready()
    assert Image.MAX_IMAGE_PIXELS == 50_000_000
    with pytest.raises(Image.DecompressionBombWarning):
        Image._decompression_bomb_check((8_000, 7_000))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("original", "fmt"),
    [pytest.param(png_with_gps(), "PNG", id="png"), pytest.param(jpeg_with_gps(), "JPEG", id="jpeg")],
)
def test_stored_copy_has_no_exif_gps_and_hashes_match(item, ops, original, fmt):
    with Image.open(io.BytesIO(original)) as before:
        assert before.getexif().get_ifd(GPS_IFD), "the test image must carry GPS data"
    evidence = evidence_add(item=item, upload=upload(original, name="IMG_0001.dat"), by=ops)

    [path] = stored_files()
    stored = path.read_bytes()
    assert path.name == evidence.file.name
    assert evidence.format == fmt
    assert evidence.original_sha256 == _sha(original)
    assert evidence.original_size == len(original)
    assert evidence.stored_sha256 == _sha(stored)
    assert evidence.stored_size == len(stored)
    assert evidence.stored_sha256 != evidence.original_sha256
    with Image.open(io.BytesIO(stored)) as after:
        assert after.format == fmt
        assert after.size == (40, 30)
        assert not after.getexif()
        assert "exif" not in after.info
    assert b"Exif" not in stored
    assert b"PhoneMaker" not in stored


def test_webp_is_accepted_and_random_name_ignores_the_uploaders(item, ops):
    evidence = evidence_add(item=item, upload=upload(image_bytes("WEBP"), name="../../etc/passwd.webp"), by=ops)
    assert evidence.format == "WEBP"
    assert evidence.original_name == "passwd.webp"
    [path] = stored_files()
    assert path.parent.name == "evidence"
    assert path.suffix == ".webp"
    assert "passwd" not in path.name
    assert len(path.stem) == 32


def test_type_comes_from_the_bytes_not_name_or_content_type(item, ops):
    evidence = evidence_add(
        item=item, upload=upload(image_bytes("JPEG"), name="shot.png", content_type="image/svg+xml"), by=ops
    )
    assert evidence.format == "JPEG"
    assert evidence.file.name.endswith(".jpg")


def test_jpeg_is_re_encoded_with_its_own_quality(item, ops):
    original = image_bytes("JPEG", size=(64, 48), quality=60)
    evidence = evidence_add(item=item, upload=upload(original), by=ops)
    with Image.open(io.BytesIO(original)) as before, evidence.file.open("rb") as stored, Image.open(stored) as after:
        assert after.quantization == before.quantization


def test_transparent_palette_png_keeps_its_transparency(item, ops):
    image = Image.new("P", (16, 16), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0)
    evidence = evidence_add(item=item, upload=upload(buffer.getvalue()), by=ops)
    with evidence.file.open("rb") as stored, Image.open(stored) as after:
        assert after.mode == "P"
        assert after.info.get("transparency") == 0


def _phone_photo(fmt: str, orientation: int, size: tuple[int, int] = (800, 400)) -> bytes:
    """A landscape-stored photo whose EXIF says how to turn it upright; its top-left quarter is red, the rest blue."""
    width, height = size
    image = Image.new("RGB", size, (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width // 2, height // 2))
    exif = gps_exif()
    exif[ORIENTATION] = orientation
    out = io.BytesIO()
    image.save(out, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {"lossless": True}))
    return out.getvalue()


def _is_red(pixel) -> bool:
    red, green, blue = pixel[:3]
    return red > 200 and green < 60 and blue < 60


# Orientation 6 means "turn 90° clockwise to display", 8 "turn 90° anticlockwise": the stored
# top-left corner ends up top-right or bottom-left once upright.
ROTATED = [
    pytest.param("JPEG", 6, "top-right", id="jpeg-6"),
    pytest.param("JPEG", 8, "bottom-left", id="jpeg-8"),
    pytest.param("WEBP", 6, "top-right", id="webp-6"),
    pytest.param("WEBP", 8, "bottom-left", id="webp-8"),
]


def _red_corner(image: Image.Image) -> str:
    width, height = image.size
    corners = {
        "top-left": (width // 8, height // 8),
        "top-right": (width - width // 8, height // 8),
        "bottom-left": (width // 8, height - height // 8),
        "bottom-right": (width - width // 8, height - height // 8),
    }
    [corner] = [name for name, xy in corners.items() if _is_red(image.convert("RGB").getpixel(xy))]
    return corner


@pytest.mark.parametrize(("fmt", "orientation", "red_corner"), ROTATED)
def test_rotated_photo_is_stored_upright_and_recorded_with_the_stored_size(
    item, ops, fmt, orientation, red_corner, django_capture_on_commit_callbacks
):
    original = _phone_photo(fmt, orientation)
    with Image.open(io.BytesIO(original)) as before:
        assert before.getexif()[ORIENTATION] == orientation, "the test image must carry its orientation"
        assert before.size == (800, 400)
    with django_capture_on_commit_callbacks(execute=True):
        evidence = evidence_add(item=item, upload=upload(original), by=ops)

    with evidence.file.open("rb") as stored, Image.open(stored) as after:
        assert after.size == (400, 800)  # upright: a portrait photo
        assert (evidence.width, evidence.height) == after.size
        assert not after.getexif()  # the tag is gone, so nothing may turn it a second time
        assert _red_corner(after) == red_corner
    evidence.refresh_from_db()
    assert (evidence.width, evidence.height) == (400, 800)
    # The thumbnail is made from the stored file, so it is upright too.
    with evidence.thumbnail.open("rb") as thumb, Image.open(thumb) as image:
        assert image.size == (160, 320)
        assert _red_corner(image) == red_corner


def test_spooled_temporary_upload_is_checked_from_disk(item, ops):
    # Uploads over FILE_UPLOAD_MAX_MEMORY_SIZE arrive as temporary files (memory-mapped by the checks).
    content = image_bytes("PNG", size=(600, 600), compress_level=0)
    spooled = TemporaryUploadedFile("big.png", "image/png", len(content), None)
    spooled.write(content)
    spooled.seek(0)
    evidence = evidence_add(item=item, upload=spooled, by=ops)
    assert evidence.original_sha256 == _sha(content)
    polyglot = TemporaryUploadedFile("big.png", "image/png", len(content) + 3, None)
    polyglot.write(content + b"zip")
    polyglot.seek(0)
    with pytest.raises(EvidenceRejected, match="3 bytes of other data"):
        evidence_add(item=item, upload=polyglot, by=ops)
    assert Evidence.objects.count() == 1


def test_failed_row_write_removes_the_stored_file(item, ops, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Evidence, "save", refuse)
    with pytest.raises(RuntimeError, match="database went away"):
        evidence_add(item=item, upload=upload(image_bytes("PNG")), by=ops)
    assert stored_files() == []


def test_replacement_keeps_the_old_file_in_the_history(item, ops, release_manager):
    first = evidence_add(item=item, upload=upload(image_bytes("PNG")), by=ops)
    second = evidence_replace(old=first, upload=upload(image_bytes("JPEG")), by=release_manager, note="Wrong tab")
    assert second.replaces == first
    assert second.note == "Wrong tab"
    first.refresh_from_db()
    assert not first.is_current
    assert second.is_current
    assert len(stored_files()) == 2
    assert list(item.evidence.values_list("pk", flat=True)) == [first.pk, second.pk]


def test_replacing_an_already_replaced_file_is_refused(item, ops):
    first = evidence_add(item=item, upload=upload(image_bytes("PNG")), by=ops)
    evidence_add(item=item, upload=upload(image_bytes("PNG")), by=ops, replaces=first)
    with pytest.raises(EvidenceRejected, match="already been replaced; replace the newest file instead"):
        evidence_add(item=item, upload=upload(image_bytes("WEBP")), by=ops, replaces=first)
    assert Evidence.objects.count() == 2
    assert len(stored_files()) == 2


def test_replacing_a_file_of_another_item_is_refused(item, evidence_item, ops):
    other = evidence_add(item=evidence_item, upload=upload(image_bytes("PNG")), by=ops)
    with pytest.raises(EvidenceRejected, match="same checklist item"):
        evidence_add(item=item, upload=upload(image_bytes("PNG")), by=ops, replaces=other)
    assert Evidence.objects.count() == 1
    assert len(stored_files()) == 1


def test_thumbnail_task_runs_after_commit_and_writes_a_small_webp(item, ops, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        evidence = evidence_add(item=item, upload=upload(image_bytes("PNG", size=(1000, 500))), by=ops)
    assert len(callbacks) == 1
    evidence.refresh_from_db()
    assert evidence.thumbnail.name.startswith("thumbs/")
    with evidence.thumbnail.open("rb") as thumb, Image.open(thumb) as image:
        assert image.format == "WEBP"
        assert image.size == (320, 160)
    # Idempotent: a second run leaves the existing thumbnail alone and stores nothing more.
    assert evidence_thumbnail_make(evidence_id=evidence.pk) is False
    assert len(stored_files()) == 2


def test_no_thumbnail_is_queued_for_a_refused_upload(item, ops, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(EvidenceRejected):
        evidence_add(item=item, upload=upload(SVG), by=ops)
    assert callbacks == []


def test_evidence_required_item_is_refused_without_a_file_then_accepted_with_one(evidence_item, engineer, ops):
    with pytest.raises(SignOffError, match="needs screenshot evidence: upload a file before ticking it"):
        signoff_record(item=evidence_item, user=engineer, action="tick")
    assert not SignOff.objects.exists()
    evidence_add(item=evidence_item, upload=upload(image_bytes("PNG")), by=ops)
    signoff_record(item=evidence_item, user=engineer, action="tick")
    assert item_state(evidence_item).ticked


def test_png_chunk_helper_builds_what_pillow_reads():
    # Guards the bomb builder: a hand-made 3 × 2 PNG opens with the declared size.
    import struct
    import zlib

    raw = zlib.compress(b"\x00\x00\x00\x00" * 2)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 3, 2, 8, 0, 0, 0, 0))
        + png_chunk(b"IDAT", raw)
        + png_chunk(b"IEND", b"")
    )
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (3, 2)


# -- an approved batch's evidence is final ---------------------------------------------------------


def test_evidence_for_an_approved_batch_is_refused_and_nothing_is_stored(db, ops):
    from batches.models import BatchState
    from tests.factories import BatchFactory, ChecklistItemFactory

    # Setup only: the lifecycle cannot approve a batch whose manual gate has no way to pass yet.
    item = ChecklistItemFactory(gate__batch=BatchFactory(state=BatchState.APPROVED, number=7))
    with pytest.raises(EvidenceRejected, match=r"^Batch 7 is approved; its evidence is final\. Add a note instead\.$"):
        evidence_add(item=item, upload=upload(image_bytes("PNG")), by=ops)
    assert not Evidence.objects.exists()
    assert stored_files() == []


@pytest.fixture
def batch_in_review(db, ops, engineer, release_manager):
    """A batch marked ready through the product: its one checklist item has a screenshot and is ticked.

    Only the batch's "in progress" is set up directly; the gate and the "ready" come from the product.
    """
    from batches.models import BatchState
    from signoffs.services import signoff_record
    from tests.factories import BatchFactory, ChecklistItemFactory

    batch = BatchFactory(state=BatchState.IN_PROGRESS, number=4)
    item = ChecklistItemFactory(gate__batch=batch, evidence_required=True)
    batch.first_evidence = evidence_add(item=item, upload=upload(image_bytes("PNG")), by=ops)
    signoff_record(item=item, user=engineer, action="tick")
    batch.mark_ready(by=release_manager)
    batch.item = item
    return batch


def test_replacing_evidence_once_the_batch_is_approved_is_refused(batch_in_review, ops, release_manager):
    first = batch_in_review.first_evidence
    batch_in_review.approve(by=release_manager)
    with pytest.raises(EvidenceRejected, match=r"^Batch 4 is approved; its evidence is final"):
        evidence_replace(old=first, upload=upload(image_bytes("JPEG")), by=ops, note="Better shot")
    assert list(Evidence.objects.values_list("pk", flat=True)) == [first.pk]
    assert [p.name for p in stored_files() if p.parent.name != "thumbs"] == [first.file.name]


def test_an_approval_landing_while_the_upload_is_decoded_is_seen_under_the_lock(
    batch_in_review, ops, release_manager, monkeypatch, django_capture_on_commit_callbacks
):
    import signoffs.evidence

    item = batch_in_review.item
    before = set(Evidence.objects.values_list("pk", flat=True))
    files_before = stored_files()
    check = signoffs.evidence.evidence_check

    def approved_meanwhile(upload_):
        checked = check(upload_)
        batch_in_review.approve(by=release_manager)
        return checked

    monkeypatch.setattr(signoffs.evidence, "evidence_check", approved_meanwhile)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(EvidenceRejected, match=r"^Batch 4 is approved; its evidence is final"),
    ):
        evidence_add(item=item, upload=upload(image_bytes("PNG")), by=ops)
    # The re-encoded copy had been written by then; it is removed again.
    assert set(Evidence.objects.values_list("pk", flat=True)) == before
    assert stored_files() == files_before
    # No thumbnail task for the refused upload: the one callback queued is the approval's metrics.
    assert [c.__module__ for c in callbacks] == ["metrics.tasks"]
