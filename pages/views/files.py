"""Evidence files and thumbnails, and a batch's sign-off record: read-only, login and role checked.

Never from a public path: there is no media URL.
"""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from batches.models import Batch
from pages.access import HtmxHttpRequest, require
from signoffs.audit import FORMATS, audit_batch, audit_render
from signoffs.models import Evidence


def _evidence_for(request: HtmxHttpRequest, pk: int) -> Evidence:
    require(request, "view_evidence")
    return get_object_or_404(Evidence, pk=pk)


def _private_file_headers[R: HttpResponseBase](response: R) -> R:
    # User-supplied bytes (re-encoded, still): never sniffed into another type,
    # inert if opened as a document, kept out of shared caches.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
def evidence_thumbnail(request: HtmxHttpRequest, pk: int) -> FileResponse:
    """The small WebP preview; 404 until the thumbnail task has written it."""
    evidence = _evidence_for(request, pk)
    if not evidence.thumbnail:
        raise Http404("No thumbnail yet.")
    response = FileResponse(
        evidence.thumbnail.open("rb"),
        content_type="image/webp",
        as_attachment=False,
        filename=f"evidence-{evidence.pk}-thumbnail.webp",
    )
    return _private_file_headers(response)


@require_GET
def audit_record(request: HtmxHttpRequest, slug: str, number: int, fmt: str) -> HttpResponse:
    """Download a batch's sign-off record as Markdown (``md``) or CSV (``csv``)."""
    require(request, "view")
    if fmt not in FORMATS:
        raise Http404("The sign-off record is available as .md or .csv.")
    try:
        record = audit_batch(slug=slug, number=number)
    except Batch.DoesNotExist:
        raise Http404("No such batch.") from None
    response = HttpResponse(audit_render(record, fmt), content_type=FORMATS[fmt])
    batch = record.batch
    # Slug and number come from the database row, not the URL text.
    response["Content-Disposition"] = f'attachment; filename="{batch.plan.slug}-batch-{batch.number}-signoffs.{fmt}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
def evidence_file(request: HtmxHttpRequest, pk: int) -> FileResponse:
    """Evidence bytes, only for signed-in users with a role; never from a public path."""
    evidence = _evidence_for(request, pk)
    response = FileResponse(
        evidence.file.open("rb"),
        content_type=evidence.content_type,
        as_attachment=False,
        filename=f"evidence-{evidence.pk}.{evidence.format_extension}",
    )
    # The Content-Disposition filename is generated, never the uploader's.
    return _private_file_headers(response)
