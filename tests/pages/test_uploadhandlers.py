from __future__ import annotations

import io

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.test import Client, RequestFactory
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

from pages.uploadhandlers import (
    EvidenceSizeLimitUploadHandler,
    evidence_upload_from,
    install_evidence_upload_handlers,
)
from signoffs.evidence import EvidenceRejected
from signoffs.models import Evidence
from tests.factories import PASSWORD
from tests.signoffs.conftest import image_bytes, stored_files, upload

LIMIT = 256 * 1024


def _upload_url(item) -> str:
    return reverse("pages:evidence-upload", args=[item.pk])


class CountingStream(io.BytesIO):
    """A request body that remembers how much of it the server read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        line = super().readline(size)
        self.bytes_read += len(line)
        return line


def _multipart_request(body: bytes, stream: io.BytesIO) -> WSGIRequest:
    environ = RequestFactory()._base_environ(
        REQUEST_METHOD="POST",
        PATH_INFO="/upload/",
        CONTENT_TYPE=MULTIPART_CONTENT,
        CONTENT_LENGTH=str(len(body)),
    )
    environ["wsgi.input"] = stream
    return WSGIRequest(environ)


def _body(file_bytes: bytes) -> bytes:
    return encode_multipart(BOUNDARY, {"csrfmiddlewaretoken": "t" * 32, "file": upload(file_bytes)})


def test_handler_stops_reading_the_body_soon_after_the_limit(settings):
    settings.EVIDENCE_MAX_BYTES = LIMIT
    body = _body(b"\x89PNG" + b"\x00" * (20 * LIMIT))  # 5 MB against a 256 KB limit
    stream = CountingStream(body)
    request = _multipart_request(body, stream)
    handler = install_evidence_upload_handlers(request)

    files = request.FILES

    assert handler.exceeded
    assert "file" not in files
    assert request.POST["csrfmiddlewaretoken"] == "t" * 32  # fields before the file survive
    # Django reads in 64 KB chunks: at most a couple past the limit, nowhere near the body.
    assert LIMIT < stream.bytes_read <= LIMIT + 3 * 65_536
    assert stream.bytes_read < len(body) / 10
    with pytest.raises(EvidenceRejected, match=r"^The file is larger than 256\.0\xa0KB, the most evidence may be"):
        evidence_upload_from(request)


def test_handler_lets_a_file_within_the_limit_through(settings):
    settings.EVIDENCE_MAX_BYTES = LIMIT
    png = image_bytes("PNG")
    body = _body(png)
    request = _multipart_request(body, CountingStream(body))
    handler = install_evidence_upload_handlers(request)
    received = evidence_upload_from(request)
    assert not handler.exceeded
    assert handler.received == len(png)
    assert received.read() == png


def test_handler_counts_every_file_in_the_request_together():
    handler = EvidenceSizeLimitUploadHandler(None, limit=100)
    assert handler.receive_data_chunk(b"x" * 60, 0) == b"x" * 60
    handler.new_file("second", "b.png", "image/png", None)
    from django.core.files.uploadhandler import StopUpload

    with pytest.raises(StopUpload) as stop:
        handler.receive_data_chunk(b"y" * 60, 0)
    assert stop.value.connection_reset
    assert handler.exceeded


def test_installing_after_the_body_was_parsed_is_an_error():
    request = RequestFactory().post("/upload/", {"a": "b"})
    request.POST  # noqa: B018 - parse the body first
    with pytest.raises(RuntimeError, match="before the evidence upload handler was installed"):
        install_evidence_upload_handlers(request)


def test_missing_file_has_a_message():
    request = RequestFactory().post("/upload/", {"note": "no file"})
    install_evidence_upload_handlers(request)
    with pytest.raises(EvidenceRejected, match=r"^Choose a screenshot to upload\.$"):
        evidence_upload_from(request)


def test_client_oversize_multipart_post_is_refused_without_storing(client, ops, item, settings):
    settings.EVIDENCE_MAX_BYTES = LIMIT
    client.force_login(ops)
    oversize = image_bytes("PNG", size=(700, 700), compress_level=0)  # ~1.4 MB, a real image
    assert len(oversize) > 4 * LIMIT
    response = client.post(_upload_url(item), {"file": upload(oversize)}, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert (
        "The file is larger than 256.0\xa0KB, the most evidence may be; upload a smaller screenshot."
        in response.content.decode()
    )
    assert not Evidence.objects.exists()
    assert stored_files() == []


def test_client_upload_within_the_limit_is_stored(client, ops, item):
    client.force_login(ops)
    response = client.post(_upload_url(item), {"file": upload(image_bytes("PNG"))})
    assert response.status_code == 302
    assert Evidence.objects.get().item == item
    assert len(stored_files()) == 1


def test_upload_view_pattern_still_enforces_csrf(ops, item):
    client = Client(enforce_csrf_checks=True)
    client.login(username=ops.username, password=PASSWORD)
    refused = client.post(_upload_url(item), {"file": upload(image_bytes("PNG"))})
    assert refused.status_code == 403
    assert not Evidence.objects.exists()

    client.get("/login/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post(_upload_url(item), {"csrfmiddlewaretoken": token, "file": upload(image_bytes("PNG"))})
    assert accepted.status_code == 302
    assert Evidence.objects.count() == 1


def test_anonymous_upload_is_redirected_and_nothing_stored(client, item):
    response = client.post(_upload_url(item), {"file": upload(image_bytes("PNG"))})
    assert response.status_code == 302
    assert response.url.startswith("/login/")
    assert not Evidence.objects.exists()
    assert stored_files() == []
