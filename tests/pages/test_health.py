"""Liveness: pages.views.health."""

from __future__ import annotations

from django.urls import reverse

from tests.pages.helpers import client_for


def test_healthz_answers_ok_for_signed_in_users(stakeholder):
    response = client_for(stakeholder).get(reverse("pages:healthz"))
    assert response.status_code == 200
    assert response.content == b"ok\n"


# -- page content --------------------------------------------------------------------
