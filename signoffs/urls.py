from __future__ import annotations

from django.urls import path

from signoffs import views

app_name = "signoffs"

urlpatterns = [
    path("evidence/<int:pk>/file/", views.evidence_file, name="evidence-file"),
    path("items/<int:pk>/signoff/", views.item_signoff, name="item-signoff"),
    path("items/<int:pk>/evidence/", views.evidence_upload, name="evidence-upload"),
]
