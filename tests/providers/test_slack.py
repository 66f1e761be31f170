"""Slack incoming webhooks: providers.slack, against the fake server on loopback."""

from __future__ import annotations

import pytest

from providers.fake import FakeProviders
from providers.http import ProviderError, RateLimited, Unavailable
from providers.slack import slack_escape, slack_link, slack_post

HOOK = "/services/T000/B000/topsecretpath"


@pytest.fixture
def fake():
    server = FakeProviders().start()
    yield server
    server.stop()


def _answer(fake, text, status=200, headers=None):
    fake.raw(HOOK, text, status=status, method="POST", headers={"Content-Type": "text/plain", **(headers or {})})


def test_a_message_is_posted_as_json(fake):
    _answer(fake, "ok")
    slack_post(webhook_url=fake.url + HOOK, text="*hello*", timeout=2)
    (seen,) = fake.requests_to(HOOK)
    assert seen.json() == {"text": "*hello*"}
    assert seen.headers["Content-Type"] == "application/json"


def test_escaping_and_links():
    assert slack_escape("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    assert slack_link("https://x.test/p?a=1", "Batch <1>") == "<https://x.test/p?a=1|Batch &lt;1&gt;>"


@pytest.mark.parametrize(
    ("status", "headers", "error", "retryable", "message"),
    [
        (404, {}, ProviderError, False, "Slack refused the message (HTTP 404: no_service)."),
        (500, {}, Unavailable, True, "Slack is unavailable (HTTP 500: no_service)."),
        (429, {"Retry-After": "7"}, RateLimited, True, "Slack is rate limiting this webhook (HTTP 429); retrying in 7"),
    ],
)
def test_errors_say_what_happened_and_never_name_the_webhook(fake, status, headers, error, retryable, message):
    _answer(fake, "no_service", status=status, headers=headers)
    with pytest.raises(error) as raised:
        slack_post(webhook_url=fake.url + HOOK, text="x", timeout=2)
    assert str(raised.value).startswith(message)
    assert raised.value.retryable is retryable
    assert "topsecret" not in str(raised.value)


def test_an_unreachable_webhook_is_retryable_and_unnamed(fake):
    url = fake.url + HOOK
    fake.stop()
    with pytest.raises(Unavailable) as raised:
        slack_post(webhook_url=url, text="x", timeout=2)
    assert str(raised.value) == "Slack could not be reached."
    assert raised.value.retryable


def test_a_post_that_timed_out_is_not_sent_again(fake):
    fake.raw(HOOK, "ok", method="POST", delay=1.5)
    with pytest.raises(Unavailable) as raised:
        slack_post(webhook_url=fake.url + HOOK, text="x", timeout=1)
    assert str(raised.value) == "Slack did not answer in time. It may have been posted, so it is not sent again."
    assert not raised.value.retryable
