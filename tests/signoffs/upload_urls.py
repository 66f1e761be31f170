"""A reference upload view wired the way the real one must be (see install_evidence_upload_handlers).

The page's own upload view lives with the review UI; these tests prove the
handler, the CSRF pattern and the service together through Django's real
request path, independent of templates.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import include, path
from django.views.decorators.http import require_POST

from signoffs.evidence import EvidenceRejected, evidence_add
from signoffs.models import ChecklistItem
from signoffs.uploadhandlers import evidence_upload_from, evidence_upload_view


@evidence_upload_view
@require_POST
def upload(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(ChecklistItem, pk=pk)
    try:
        evidence = evidence_add(item=item, upload=evidence_upload_from(request), by=request.user)
    except EvidenceRejected as rejected:
        return HttpResponse(str(rejected), status=400, content_type="text/plain")
    return HttpResponse(f"stored {evidence.pk}", status=201, content_type="text/plain")


urlpatterns = [
    path("test-upload/<int:pk>/", upload, name="test-upload"),
    path("", include("portal.urls")),
]
