from __future__ import annotations

from django.urls import path

from batches import views, webhooks

app_name = "batches"

urlpatterns = [
    path("", views.home, name="home"),
    path("plans/<slug:slug>/", views.plan_overview, name="plan"),
    path("plans/<slug:slug>/batches/<int:number>/", views.batch_review, name="batch"),
    path("gates/<int:pk>/waive/", views.gate_waive_view, name="gate-waive"),
    path("webhooks/github/", webhooks.github_webhook, name="github-webhook"),
]
