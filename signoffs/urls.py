from __future__ import annotations

from django.urls import path

from signoffs import views

app_name = "signoffs"

urlpatterns = [
    path("evidence/<int:pk>/file/", views.evidence_file, name="evidence-file"),
    path("items/<int:pk>/signoff/", views.item_signoff, name="item-signoff"),
    path("items/<int:pk>/evidence/", views.evidence_upload, name="evidence-upload"),
]

# Evidence thumbnails and the audit record (signoffs/evidence_views.py).
from signoffs import evidence_views  # noqa: E402

urlpatterns += [
    path("evidence/<int:pk>/thumbnail/", evidence_views.evidence_thumbnail, name="evidence-thumbnail"),
    path(
        "plans/<slug:slug>/batches/<int:number>/audit.<str:fmt>",
        evidence_views.audit_record,
        name="audit-record",
    ),
]
