"""The viewer's API tokens: pages.views.account."""

from __future__ import annotations

import re

from django.urls import reverse

from tests.pages.helpers import client_for, page_text
from tokens.models import ApiToken
from tokens.services import token_authenticate, token_create

URL = reverse("pages:api-tokens")
TOKEN = re.compile(r'value="(gth_[^"]+)"')


def _revoke_url(token) -> str:
    return reverse("pages:api-token-revoke", kwargs={"pk": token.pk})


def test_creating_a_token_shows_it_once(engineer):
    client = client_for(engineer, csrf=True)
    client.get(URL)
    response = client.post(URL, {"name": "wall dashboard", "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    (raw,) = TOKEN.findall(response.content.decode())
    assert "Copy it now: it is shown only this once." in page_text(response)
    token = token_authenticate(raw)
    assert token is not None
    assert token.user == engineer
    assert token.name == "wall dashboard"
    again = client.get(URL).content.decode()
    assert raw not in again
    assert f"{raw[:12]}…" in again


def test_the_list_shows_each_tokens_name_and_last_use(engineer, stakeholder):
    _, raw = token_create(user=engineer, name="release bot")
    token_create(user=engineer, name="spare")
    token_create(user=stakeholder, name="not yours")
    token_authenticate(raw)
    text = page_text(client_for(engineer).get(URL))
    assert "release bot" in text
    assert "spare" in text
    assert "not yours" not in text
    assert text.count("never") == 1  # the spare was never used; the bot was, just now
    assert text.count("Revoke") == 2


def test_a_token_needs_a_name(engineer):
    response = client_for(engineer).post(URL, {"name": " "})
    assert response.status_code == 422
    assert "Name the token" in page_text(response)
    assert not ApiToken.objects.exists()


def test_revoking_a_token_stops_it_working(engineer):
    token, raw = token_create(user=engineer, name="bot")
    response = client_for(engineer).post(_revoke_url(token), follow=True)
    assert "Revoked “bot”: it no longer works." in page_text(response)
    assert token_authenticate(raw) is None
    assert "revoked" in page_text(client_for(engineer).get(URL))
    again = client_for(engineer).post(_revoke_url(token), follow=True)
    assert "already revoked" in page_text(again)


def test_nobody_else_can_revoke_a_token(engineer, release_manager):
    token, raw = token_create(user=engineer, name="bot")
    assert client_for(release_manager).post(_revoke_url(token)).status_code == 404
    assert token_authenticate(raw) is not None


def test_tokens_need_a_role_a_login_and_the_right_method(engineer, outsider):
    token, _ = token_create(user=engineer, name="bot")
    assert client_for(outsider).get(URL).status_code == 403
    assert client_for(outsider).post(URL, {"name": "x"}).status_code == 403
    anonymous = client_for().get(URL)
    assert anonymous.status_code == 302
    assert anonymous.url.startswith("/login/")
    assert client_for(engineer).get(_revoke_url(token)).status_code == 405
    assert client_for(engineer).put(URL).status_code == 405


def test_every_page_links_the_viewers_tokens(engineer):
    assert f'href="{URL}"' in client_for(engineer).get(reverse("pages:home")).content.decode()
