from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from signoffs.models import Evidence
from signoffs.roles import denial_reason, user_can


@require_GET
def evidence_file(request: HttpRequest, pk: int) -> FileResponse:
    """Evidence bytes, only for signed-in users with a role; never from a public path."""
    if not user_can(request.user, "view_evidence"):
        raise PermissionDenied(denial_reason("view_evidence"))
    evidence = get_object_or_404(Evidence, pk=pk)
    response = FileResponse(
        evidence.file.open("rb"),
        content_type=evidence.content_type,
        as_attachment=False,
        filename=f"evidence-{evidence.pk}.{evidence.format_extension}",
    )
    # The bytes were re-encoded by Pillow, but they are still user-supplied:
    # never sniffed into another type, never able to run script or load
    # anything if opened as a document, never cached by shared caches. The
    # Content-Disposition filename is generated, never the uploader's.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = "private, max-age=3600"
    return response
