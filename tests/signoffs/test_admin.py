from __future__ import annotations

import pytest
from django.urls import reverse

from signoffs.models import Evidence
from tests.factories import UserFactory


@pytest.fixture
def admin_client(client, audited_batch):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_evidence_admin_is_read_only_and_shows_hashes_preview_and_chain(admin_client):
    first, second = Evidence.objects.order_by("pk")
    response = admin_client.get(reverse("admin:signoffs_evidence_change", args=[first.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert first.original_sha256 in page
    assert first.stored_sha256 in page
    assert reverse("pages:evidence-file", args=[first.pk]) in page
    assert f"#{first.pk} sentry.png" in page
    assert f"#{second.pk} sentry-2.jpg" in page
    assert "(this file)" in page
    assert 'name="_save"' not in page  # nothing to submit
    assert admin_client.post(reverse("admin:signoffs_evidence_change", args=[first.pk]), {}).status_code == 403
    assert admin_client.get(reverse("admin:signoffs_evidence_delete", args=[first.pk])).status_code == 403
    assert admin_client.get(reverse("admin:signoffs_evidence_add")).status_code == 403


def test_checklist_item_admin_lists_history_and_evidence(admin_client):
    item = Evidence.objects.first().item
    page = admin_client.get(reverse("admin:signoffs_checklistitem_change", args=[item.pk])).content.decode()
    assert "Checked at 09:00" in page
    assert "sentry-2.jpg" in page
