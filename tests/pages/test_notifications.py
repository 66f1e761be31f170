"""A plan's notification settings and delivery log: pages.views.notifications."""

from __future__ import annotations

import pytest
from django.urls import reverse

from notifications.models import Delivery, DeliveryStatus, NotificationEvent, PlanNotifications
from notifications.services import notify_review_decision
from tests.notifications.conftest import PORTAL, Slack, announce
from tests.pages.helpers import SLUG, client_for, page_text, page_urls

URL = reverse("pages:plan-notifications", kwargs={"slug": SLUG})
HOOK = "https://hooks.slack.com/services/T0AAA/B0BBB/abcdefghijklmnopqrstWXYZ"


def _form(**changes):
    data = {
        "enabled": "on",
        "events": [NotificationEvent.GATE_FAILING, NotificationEvent.BATCH_READY],
        "slack_webhook_url": "",
        "email_recipients": "",
        "stale_after_minutes": "60",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_release_managers_see_the_settings_and_others_may_not(sample_plan, release_manager, engineer, stakeholder):
    response = client_for(release_manager).get(URL)
    assert response.status_code == 200
    text = page_text(response)
    assert "Send notifications for this plan" in text
    assert "No webhook is set." in text
    assert "Nothing sent yet." in text
    assert client_for(engineer).get(URL).status_code == 403
    assert client_for(stakeholder).post(URL, _form(slack_webhook_url=HOOK)).status_code == 403
    assert not PlanNotifications.objects.exists()
    anonymous = client_for().get(URL)
    assert anonymous.status_code == 302
    assert anonymous.url.startswith("/login/")
    assert client_for(release_manager).put(URL).status_code == 405


def test_the_plan_page_links_the_notifications_for_release_managers_only(sample_plan, release_manager, engineer):
    assert URL in client_for(release_manager).get(page_urls()["plan"]).content.decode()
    assert URL not in client_for(engineer).get(page_urls()["plan"]).content.decode()


def test_saving_turns_notifications_on_and_never_shows_the_webhook_again(sample_plan, release_manager):
    client = client_for(release_manager, csrf=True)
    client.get(URL)
    response = client.post(
        URL,
        _form(slack_webhook_url=HOOK, email_recipients="a@example.com\nb@example.com, a@example.com")
        | {"csrfmiddlewaretoken": client.cookies["csrftoken"].value},
    )
    assert response.status_code == 302
    saved = PlanNotifications.objects.get(plan=sample_plan)
    assert saved.enabled
    assert saved.slack_webhook_url == HOOK
    assert saved.events == [NotificationEvent.GATE_FAILING, NotificationEvent.BATCH_READY]
    assert saved.email_recipients == ["a@example.com", "b@example.com"]
    assert saved.updated_by == release_manager
    html = client.get(URL).content.decode()
    assert "https://hooks.slack.com/…WXYZ" in html
    assert "B0BBB" not in html
    assert "abcdefghijklmnop" not in html
    # Saved again with the field left empty: the webhook is kept.
    client_for(release_manager).post(URL, _form(email_recipients="a@example.com"))
    assert PlanNotifications.objects.get(plan=sample_plan).slack_webhook_url == HOOK
    # Removed on request.
    client_for(release_manager).post(URL, _form(email_recipients="a@example.com", remove_slack_webhook="on"))
    assert PlanNotifications.objects.get(plan=sample_plan).slack_webhook_url == ""


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({}, "Add a Slack webhook or an email address, or leave notifications off."),
        ({"email_recipients": "a@example.com, not-an-address"}, "“not-an-address” is not an email address."),
        ({"slack_webhook_url": "http://hooks.slack.com/services/x"}, "Use the https:// URL Slack gave you."),
        ({"slack_webhook_url": "hooks.slack.com/services/x"}, "Paste the whole webhook URL"),
        ({"email_recipients": "a@example.com", "events": None}, "Choose at least one event"),
        ({"email_recipients": "a@example.com", "stale_after_minutes": "1"}, "greater than or equal to 5"),
    ],
)
def test_bad_settings_are_refused_with_a_reason_and_change_nothing(sample_plan, release_manager, changes, message):
    response = client_for(release_manager).post(URL, _form(**changes))
    assert response.status_code == 422
    assert message in page_text(response)
    assert not PlanNotifications.objects.exists()


def test_the_delivery_log_shows_status_attempts_and_error(journey, settings, django_capture_on_commit_callbacks):
    settings.PORTAL_BASE_URL = PORTAL
    slack = Slack(journey.fake)
    announce(journey.plan, journey.release_manager, slack=slack, emails=["ops@example.com"])
    slack.answer("no_service", status=404)
    with django_capture_on_commit_callbacks(execute=True):
        notify_review_decision(batch=journey.batch(1), decision="approved", by=journey.release_manager, key="k")
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.FAILED, DeliveryStatus.SENT}
    text = page_text(client_for(journey.release_manager).get(URL))
    assert "Delivery log" in text
    assert "A review decision is recorded" in text
    assert "Slack refused the message (HTTP 404: no_service)." in text
    assert "Email (ops@example.com)" in text
    assert "Sent" in text
    assert "Failed" in text
    assert f'href="{PORTAL}/plans/{SLUG}/batches/1/"' in client_for(journey.release_manager).get(URL).content.decode()
    assert "s3cr3t" not in text
