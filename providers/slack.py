"""Slack incoming webhooks: post one message.

The webhook URL is a secret (whoever has it can post to the channel), so no
error raised here names it, not even its path, which is where the secret is.
Slack answers ``ok`` in plain text, or an error word (``invalid_payload``,
``no_service``, ``channel_is_archived``…) with a 4xx status.
"""

from __future__ import annotations

from django.conf import settings

from providers.http import HttpClient, ProviderError, RateLimited, Unavailable, rate_limit_delay

PROVIDER = "Slack"


def slack_escape(text: str) -> str:
    """Slack's three control characters, escaped as its message formatting requires."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_link(url: str, label: str) -> str:
    return f"<{url}|{slack_escape(label)}>"


def slack_post(*, webhook_url: str, text: str, timeout: float | None = None) -> None:
    """Post ``text`` (Slack mrkdwn) to the incoming webhook. Raises a ProviderError whose ``retryable`` says
    whether sending it again later is safe and useful (rate limits, 5xx, a connection that never opened)."""
    seconds = settings.NOTIFICATION_TIMEOUT_SECONDS if timeout is None else timeout
    with HttpClient(provider=PROVIDER, base_url="", timeout=seconds) as client:
        try:
            response = client.post_raw(webhook_url, {"text": text})
        except Unavailable as exc:
            # The wrapper's sentence names the URL's path: say what happened without it.
            what = "did not answer in time" if "did not answer" in str(exc) else "could not be reached"
            maybe = "" if exc.retryable else " It may have been posted, so it is not sent again."
            raise Unavailable(f"Slack {what}.{maybe}", provider=PROVIDER, retryable=exc.retryable) from None
    status = response.status_code
    if status < 300:
        return
    reason = response.text.strip()[:200]
    said = f": {reason}" if reason else ""
    delay = rate_limit_delay(response)
    if delay is not None:
        raise RateLimited(
            f"Slack is rate limiting this webhook (HTTP {status}); retrying in {round(delay)} s.",
            retry_after=delay,
            provider=PROVIDER,
            status=status,
        )
    if status >= 500:
        # Slack answers 5xx when it did not post the message, so sending it again is what to do.
        raise Unavailable(f"Slack is unavailable (HTTP {status}{said}).", provider=PROVIDER, status=status)
    raise ProviderError(
        f"Slack refused the message (HTTP {status}{said}). Check the webhook URL in the plan's notification settings.",
        provider=PROVIDER,
        status=status,
    )
