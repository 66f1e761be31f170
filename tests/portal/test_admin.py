from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from tests.factories import UserFactory

OUR_APPS = ("batches", "signoffs")


def test_every_model_of_ours_is_in_the_admin():
    ours = {m for app in OUR_APPS for m in apps.get_app_config(app).get_models()}
    missing = sorted(m.__name__ for m in ours if m not in admin.site._registry)
    assert missing == []


@pytest.mark.parametrize(
    "model",
    [m for app in OUR_APPS for m in apps.get_app_config(app).get_models()],
    ids=lambda m: m.__name__,
)
def test_changelist_opens_for_staff(client, sample_plan, model):
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = client.get(url)
    assert response.status_code == 200


def test_history_cannot_be_added_or_deleted_in_the_admin(client, sample_plan):
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    assert client.get(reverse("admin:signoffs_signoff_add")).status_code == 403
    assert client.get(reverse("admin:batches_gateevent_add")).status_code == 403
