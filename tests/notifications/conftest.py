"""Notifications fixtures: a Slack incoming webhook on the fake server, and a plan that announces events."""

from __future__ import annotations

import pytest

from notifications.models import NotificationEvent
from notifications.services import plan_notifications_configure
from tests.batches.conftest import _fast_password_hashing  # noqa: F401

SLACK_PATH = "/slack/services/T000/B000/s3cr3tHookPath"
PORTAL = "https://gatehouse.example.com"


@pytest.fixture(autouse=True)
def _portal_address(settings):
    settings.PORTAL_BASE_URL = PORTAL


class Slack:
    """The fake server's Slack webhook: answers as told, and records what was posted."""

    def __init__(self, fake):
        self.fake = fake
        self.url = fake.url + SLACK_PATH
        self.answer("ok")

    def answer(self, text: str, *, status: int = 200, headers: dict | None = None) -> None:
        headers = {"Content-Type": "text/plain", **(headers or {})}
        self.fake.raw(SLACK_PATH, text, status=status, method="POST", headers=headers)

    @property
    def posts(self) -> list[dict]:
        return [seen.json() for seen in self.fake.requests_to(SLACK_PATH, method="POST")]


@pytest.fixture
def slack(journey):
    return Slack(journey.fake)


def announce(plan, by, *, slack=None, emails=(), events=NotificationEvent.values, stale_after_minutes=60):
    """Turn the plan's notifications on, as a release manager does on its notifications page."""
    return plan_notifications_configure(
        plan_id=plan.pk,
        by=by,
        enabled=True,
        events=list(events),
        email_recipients=list(emails),
        stale_after_minutes=stale_after_minutes,
        slack_webhook_url=slack.url if slack else None,
    )
