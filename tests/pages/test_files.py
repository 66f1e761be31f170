from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from signoffs.evidence import evidence_add
from tests.signoffs.conftest import image_bytes, stored_files, upload


@pytest.fixture
def evidence(item, ops, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        stored = evidence_add(item=item, upload=upload(image_bytes("PNG"), name='a"b<script>.png'), by=ops)
    stored.refresh_from_db()
    return stored


def _file_url(evidence):
    return reverse("pages:evidence-file", args=[evidence.pk])


def _thumb_url(evidence):
    return reverse("pages:evidence-thumbnail", args=[evidence.pk])


@pytest.mark.parametrize("url_for", [_file_url, _thumb_url], ids=["file", "thumbnail"])
def test_anonymous_is_sent_to_login_without_the_bytes(client, evidence, url_for):
    response = client.get(url_for(evidence))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert b"PNG" not in response.content
    assert b"WEBP" not in response.content


@pytest.mark.parametrize("url_for", [_file_url, _thumb_url], ids=["file", "thumbnail"])
def test_user_without_a_role_gets_403_without_the_bytes(client, outsider, evidence, url_for):
    client.force_login(outsider)
    response = client.get(url_for(evidence))
    assert response.status_code == 403
    assert b"PNG" not in response.content
    assert b"WEBP" not in response.content


@pytest.mark.parametrize("persona", ["stakeholder", "ops", "engineer", "release_manager"])
def test_every_role_gets_the_file_with_safe_headers(client, evidence, persona, request):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(_file_url(evidence))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == evidence.file.storage.open(evidence.file.name).read()
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    # A generated name, never the uploader's (which here tries to break out of the header).
    assert response["Content-Disposition"] == f'inline; filename="evidence-{evidence.pk}.png"'
    assert "private" in response["Cache-Control"]


def test_thumbnail_is_served_as_webp_with_safe_headers(client, stakeholder, evidence):
    client.force_login(stakeholder)
    response = client.get(_thumb_url(evidence))
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[8:12] == b"WEBP"
    assert response["Content-Type"] == "image/webp"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    assert response["Content-Disposition"] == f'inline; filename="evidence-{evidence.pk}-thumbnail.webp"'


def test_thumbnail_not_made_yet_is_404(client, stakeholder, item, ops):
    stored = evidence_add(item=item, upload=upload(image_bytes("PNG")), by=ops)  # on_commit never runs here
    client.force_login(stakeholder)
    assert client.get(_thumb_url(stored)).status_code == 404


@pytest.mark.parametrize("url_for", [_file_url, _thumb_url], ids=["file", "thumbnail"])
def test_post_is_405(client, stakeholder, evidence, url_for):
    client.force_login(stakeholder)
    assert client.post(url_for(evidence)).status_code == 405


def test_unknown_evidence_is_404(client, stakeholder, db):
    client.force_login(stakeholder)
    assert client.get(reverse("pages:evidence-file", args=[999_999])).status_code == 404


def test_there_is_no_public_media_route(client, stakeholder, evidence):
    client.force_login(stakeholder)
    [path, _thumb] = sorted(stored_files(), key=lambda p: p.parent.name != "evidence")
    for url in (f"/media/{path.name}", f"/media/evidence/{path.name}", f"/evidence/{path.name}"):
        assert client.get(url).status_code == 404
    assert not django_settings.MEDIA_URL or django_settings.MEDIA_URL == "/"
    # Whatever URL the storage would build for the file leads nowhere.
    assert client.get("/" + evidence.file.url.lstrip("/")).status_code == 404


# -- audit record -------------------------------------------------------------------


def _audit_url(fmt: str, slug: str = "release-2025", number: int = 3) -> str:
    return reverse("pages:audit-record", kwargs={"slug": slug, "number": number, "fmt": fmt})


@pytest.mark.parametrize(
    ("fmt", "content_type", "starts"),
    [("md", "text/markdown; charset=utf-8", "# Sign-off record"), ("csv", "text/csv; charset=utf-8", "record,gate")],
)
def test_audit_record_downloads_for_any_role(client, stakeholder, audited_batch, fmt, content_type, starts):
    client.force_login(stakeholder)
    response = client.get(_audit_url(fmt))
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == f'attachment; filename="release-2025-batch-3-signoffs.{fmt}"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.content.decode().startswith(starts)


def test_audit_record_path_is_the_documented_one():
    assert _audit_url("md") == "/plans/release-2025/batches/3/audit.md"


def test_audit_record_needs_a_role(client, outsider, audited_batch):
    client.force_login(outsider)
    assert client.get(_audit_url("md")).status_code == 403


def test_audit_record_anonymous_is_redirected(client, audited_batch):
    response = client.get(_audit_url("csv"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("fmt", ["pdf", "html", "MD"])
def test_audit_record_unknown_format_is_404(client, stakeholder, audited_batch, fmt):
    client.force_login(stakeholder)
    assert client.get(_audit_url(fmt)).status_code == 404


def test_audit_record_unknown_batch_is_404(client, stakeholder, audited_batch):
    client.force_login(stakeholder)
    assert client.get(_audit_url("md", number=99)).status_code == 404


def test_audit_record_post_is_405(client, stakeholder, audited_batch):
    client.force_login(stakeholder)
    assert client.post(_audit_url("md")).status_code == 405


def test_file_served_for_a_gps_tagged_upload_carries_no_exif(client, stakeholder, item, ops):
    import io

    from PIL import Image

    from tests.signoffs.conftest import jpeg_with_gps

    stored = evidence_add(item=item, upload=upload(jpeg_with_gps(), name="IMG.jpg"), by=ops)
    client.force_login(stakeholder)
    body = b"".join(client.get(_file_url(stored)).streaming_content)
    with Image.open(io.BytesIO(body)) as served:
        assert served.format == "JPEG"
        assert not served.getexif()
    import hashlib

    assert hashlib.sha256(body).hexdigest() == stored.stored_sha256
