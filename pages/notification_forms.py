"""The plan's notification settings form. It parses and checks; ``notifications.services`` saves."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from notifications.models import NotificationEvent, PlanNotifications

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class NotificationSettingsForm(forms.Form):
    enabled = forms.BooleanField(label="Send notifications for this plan", required=False)
    events = forms.MultipleChoiceField(
        label="Announce when",
        choices=NotificationEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    slack_webhook_url = forms.CharField(
        label="Slack incoming webhook URL",
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="https://hooks.slack.com/services/… It is a secret: it is never shown again once saved. "
        "Leave empty to keep the current one.",
    )
    remove_slack_webhook = forms.BooleanField(label="Remove the Slack webhook", required=False)
    email_recipients = forms.CharField(
        label="Email recipients",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One address per line, or separated by commas.",
    )
    stale_after_minutes = forms.IntegerField(
        label="Announce a gate that has been stale for more than (minutes)", min_value=5, max_value=10_080
    )

    def __init__(self, *args: Any, preferences: PlanNotifications, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.preferences = preferences

    @classmethod
    def for_preferences(cls, preferences: PlanNotifications, data: Any = None) -> NotificationSettingsForm:
        initial = {
            "enabled": preferences.enabled,
            "events": list(preferences.events) if preferences.pk else NotificationEvent.values,
            "email_recipients": "\n".join(preferences.email_recipients),
            "stale_after_minutes": preferences.stale_after_minutes,
        }
        return cls(data=data, initial=initial, preferences=preferences)

    def clean_slack_webhook_url(self) -> str:
        value = self.cleaned_data["slack_webhook_url"].strip()
        if not value:
            return ""
        try:
            URLValidator(schemes=["https", "http"])(value)
        except ValidationError:
            raise forms.ValidationError("Paste the whole webhook URL, starting with https://.") from None
        parts = urlsplit(value)
        # The URL is a secret: over plain http anyone on the way could read it (a server on this machine aside).
        if parts.scheme == "http" and parts.hostname not in LOOPBACK:
            raise forms.ValidationError("Use the https:// URL Slack gave you.")
        return value

    def clean_email_recipients(self) -> list[str]:
        addresses = [a.strip() for a in re.split(r"[,;\s]+", self.cleaned_data["email_recipients"]) if a.strip()]
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                raise forms.ValidationError(f"“{address}” is not an email address.") from None
        if len(addresses) > 50:
            raise forms.ValidationError("At most 50 addresses; use a mailing list for more.")
        return list(dict.fromkeys(addresses))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("enabled"):
            return data
        has_slack = bool(data.get("slack_webhook_url")) or (
            bool(self.preferences.slack_webhook_url) and not data.get("remove_slack_webhook")
        )
        if not has_slack and not data.get("email_recipients"):
            self.add_error(None, "Add a Slack webhook or an email address, or leave notifications off.")
        if "events" in data and not data["events"]:
            self.add_error("events", "Choose at least one event to announce, or leave notifications off.")
        return data
