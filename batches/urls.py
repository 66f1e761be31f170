from __future__ import annotations

from django.urls import path

from batches import views, webhooks

app_name = "batches"

BATCH = "plans/<slug:slug>/batches/<int:number>/"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz/", views.healthz, name="healthz"),
    path("import/", views.plan_import_page, name="plan-import"),
    path("plans/<slug:slug>/", views.plan_overview, name="plan"),
    path(BATCH, views.batch_review, name="batch"),
    path(f"{BATCH}present/", views.batch_present, name="present"),
    path(f"{BATCH}start/", views.batch_transition, {"move": "start"}, name="batch-start"),
    path(f"{BATCH}ready/", views.batch_transition, {"move": "ready"}, name="batch-ready"),
    path(f"{BATCH}approve/", views.batch_transition, {"move": "approve"}, name="batch-approve"),
    path(f"{BATCH}prs/<int:pr_number>/link/", views.pr_link, name="pr-link"),
    path("gates/<int:pk>/waive/", views.gate_waive_view, name="gate-waive"),
    path("gates/<int:pk>/revoke/", views.gate_revoke_view, name="gate-revoke"),
    path("plans/<slug:slug>/settings/", views.plan_settings, name="plan-settings"),
    path("webhooks/github/", webhooks.github_webhook, name="github-webhook"),
]
