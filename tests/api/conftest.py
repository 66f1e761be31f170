"""API fixtures: the batches' fixtures (big plans for query counts) and a token per persona."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.batches.conftest import _fast_password_hashing, big_plan, fake, small_plan  # noqa: F401
from tokens.services import token_create


class Api:
    """A client that sends one person's token, as a script would."""

    def __init__(self, user, name: str = "tests") -> None:
        self.token, self.raw = token_create(user=user, name=name)
        self.client = Client()

    def get(self, path: str, **headers):
        return self.client.get(path, headers={"Authorization": f"Bearer {self.raw}", **headers})


@pytest.fixture
def as_stakeholder(stakeholder):
    return Api(stakeholder)
