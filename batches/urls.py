from __future__ import annotations

from django.urls import path

from batches import webhooks

app_name = "batches"

urlpatterns = [
    # Authenticated by GitHub's signature, not a session: not a page.
    path("webhooks/github/", webhooks.github_webhook, name="github-webhook"),
]
