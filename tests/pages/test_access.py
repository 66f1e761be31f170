"""Who may open which page, and what strangers and other roles get: pages.access."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.pages.helpers import SLUG, client_for, page_urls


@pytest.mark.parametrize("page", ["home", "plan", "batch", "present"])
@pytest.mark.parametrize("persona", ["stakeholder", "engineer", "ops", "release_manager"])
def test_every_role_sees_every_page(request, sample_plan, page, persona):
    response = client_for(request.getfixturevalue(persona)).get(page_urls()[page])
    assert response.status_code == 200
    assert b"<html" in response.content
    assert sample_plan.title.encode() in response.content or page in ("batch", "present")


@pytest.mark.parametrize("page", ["home", "plan", "batch", "present"])
def test_user_without_a_role_gets_a_403_that_says_why(sample_plan, outsider, page):
    response = client_for(outsider).get(page_urls()[page])
    assert response.status_code == 403
    assert "Only " in response.content.decode()
    assert "can see plans." in response.content.decode()
    assert sample_plan.title not in response.content.decode()


@pytest.mark.parametrize("page", ["home", "plan", "batch", "present"])
def test_anonymous_is_sent_to_login(sample_plan, page):
    url = page_urls()[page]
    response = client_for().get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("page", ["home", "plan", "batch", "present", "healthz"])
def test_pages_refuse_post(sample_plan, stakeholder, page):
    assert client_for(stakeholder).post(page_urls()[page]).status_code == 405


def test_unknown_plan_and_batch_are_404(sample_plan, stakeholder):
    client = client_for(stakeholder)
    assert client.get(reverse("pages:plan", kwargs={"slug": "nope"})).status_code == 404
    assert client.get(reverse("pages:batch", kwargs={"slug": SLUG, "number": 99})).status_code == 404


def test_unknown_batch_gets_the_friendly_404_page(sample_plan, stakeholder):
    response = client_for(stakeholder).get(f"/plans/{sample_plan.slug}/batches/99/")
    assert response.status_code == 404
    assert "There is no page at this address" in response.content.decode()


# -- pages say what will happen before the click ------------------------------------------
