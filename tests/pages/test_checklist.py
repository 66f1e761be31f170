from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from batches.models import GateKind
from signoffs.models import ChecklistItem, Evidence, SignOff

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def item(sample_plan):
    """Batch 1's manual item (no evidence required)."""
    return ChecklistItem.objects.get(gate__batch__plan=sample_plan, gate__batch__number=1, gate__kind=GateKind.MANUAL)


@pytest.fixture
def screenshot_item(sample_plan):
    """Batch 2's item: ops capture Sentry and Render screenshots."""
    return ChecklistItem.objects.get(
        gate__batch__plan=sample_plan, gate__batch__number=2, gate__kind=GateKind.MANUAL, evidence_required=True
    )


def client_for(user=None, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    if user is not None:
        client.force_login(user)
    return client


def signoff_url(item) -> str:
    return reverse("pages:item-signoff", kwargs={"pk": item.pk})


def upload_url(item) -> str:
    return reverse("pages:evidence-upload", kwargs={"pk": item.pk})


def png(name: str = "sentry.png", size=(64, 40)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


# -- ticking ---------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["engineer", "release_manager"])
def test_engineers_and_release_managers_tick_with_a_note(request, item, persona):
    user = request.getfixturevalue(persona)
    response = client_for(user).post(signoff_url(item), {"action": "tick", "note": "Checked on staging"}, follow=True)
    event = SignOff.objects.get(item=item)
    assert (event.action, event.user, event.note) == ("tick", user, "Checked on staging")
    assert response.redirect_chain[-1][0] == f"{item.gate.batch.get_absolute_url()}#item-{item.pk}"
    html = response.content.decode()
    assert f"Ticked</strong> by {user.username}" in " ".join(html.split())
    assert "Checked on staging" in html


def test_htmx_tick_returns_the_item_row_with_who_and_when(item, engineer):
    response = client_for(engineer).post(signoff_url(item), {"action": "tick", "note": ""}, **HTMX)
    assert response.status_code == 200
    html = " ".join(response.content.decode().split())
    assert html.startswith(f'<li class="row item" id="item-{item.pk}">')
    assert "<html" not in html
    assert "Ticked</strong> by eddie at" in html
    assert 'value="untick"' in html
    assert '<textarea id="note-' in html  # a fresh, empty note field after saving


def test_untick_and_note_append_to_the_history(item, engineer, release_manager):
    client_for(engineer).post(signoff_url(item), {"action": "tick"})
    client_for(release_manager).post(signoff_url(item), {"action": "untick", "note": "Dropdown empty again"})
    client_for(engineer).post(signoff_url(item), {"action": "note", "note": "Investigating"})
    events = list(SignOff.objects.filter(item=item).values_list("action", "user__username", "note"))
    assert events == [
        ("tick", "eddie", ""),
        ("untick", "rita", "Dropdown empty again"),
        ("note", "eddie", "Investigating"),
    ]
    html = " ".join(client_for(engineer).get(item.gate.batch.get_absolute_url()).content.decode().split())
    assert "Not ticked</strong> – unticked by rita" in html
    assert "Noted</strong> by eddie" in html


@pytest.mark.parametrize("htmx", [False, True])
def test_a_refused_signoff_shows_the_reason_and_keeps_the_note(item, engineer, release_manager, htmx):
    client_for(release_manager).post(signoff_url(item), {"action": "tick"})
    response = client_for(engineer).post(
        signoff_url(item),
        {"action": "tick", "note": "my half-written thought"},
        follow=not htmx,
        **(HTMX if htmx else {}),
    )
    html = response.content.decode()
    assert "Already ticked by rita at" in html
    if htmx:
        assert response.status_code == 422
        assert "my half-written thought</textarea>" in html
    assert SignOff.objects.filter(item=item).count() == 1


def test_evidence_required_item_cannot_be_ticked_before_a_screenshot(screenshot_item, engineer):
    response = client_for(engineer).post(signoff_url(screenshot_item), {"action": "tick"}, **HTMX)
    assert response.status_code == 422
    assert "This item needs screenshot evidence" in response.content.decode()
    assert not SignOff.objects.exists()


def test_unknown_action_is_refused(item, engineer):
    response = client_for(engineer).post(signoff_url(item), {"action": "approve"}, **HTMX)
    assert response.status_code == 422
    assert "Unknown sign-off action" in response.content.decode()
    assert not SignOff.objects.exists()


@pytest.mark.parametrize("persona", ["ops", "stakeholder", "outsider"])
def test_others_cannot_tick(request, item, persona):
    response = client_for(request.getfixturevalue(persona)).post(signoff_url(item), {"action": "tick"})
    assert response.status_code == 403
    assert "Only engineers, release managers can tick checklist items." in response.content.decode()
    assert not SignOff.objects.exists()


def test_ticking_needs_login_post_and_csrf(item, engineer):
    assert client_for().post(signoff_url(item), {"action": "tick"})["Location"].startswith(reverse("login"))
    assert client_for(engineer).get(signoff_url(item)).status_code == 405
    assert client_for(engineer, csrf=True).post(signoff_url(item), {"action": "tick"}).status_code == 403
    assert client_for(engineer).post(reverse("pages:item-signoff", kwargs={"pk": 999999})).status_code == 404
    assert not SignOff.objects.exists()


def test_the_csrf_token_in_the_page_is_accepted(item, engineer):
    """What the browser sends: the token from the form (or from hx-headers on <body>)."""
    client = client_for(engineer, csrf=True)
    html = client.get(item.gate.batch.get_absolute_url()).content.decode()
    token = html.split('"X-CSRFToken": "')[1].split('"')[0]
    response = client.post(signoff_url(item), {"action": "tick"}, HTTP_X_CSRFTOKEN=token, **HTMX)
    assert response.status_code == 200
    assert SignOff.objects.filter(item=item, action="tick").exists()


# -- evidence upload --------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["ops", "release_manager"])
def test_ops_and_release_managers_upload_a_screenshot(request, screenshot_item, persona):
    user = request.getfixturevalue(persona)
    response = client_for(user).post(upload_url(screenshot_item), {"file": png()}, follow=True)
    evidence = Evidence.objects.get(item=screenshot_item)
    assert (evidence.uploaded_by, evidence.original_name, evidence.format) == (user, "sentry.png", "PNG")
    assert response.redirect_chain[-1][0].endswith(f"#item-{screenshot_item.pk}")
    html = response.content.decode()
    assert "Stored sentry.png as evidence" in html
    assert reverse("pages:evidence-file", kwargs={"pk": evidence.pk}) in html


def test_htmx_upload_returns_the_row_with_the_preview(screenshot_item, ops):
    response = client_for(ops).post(upload_url(screenshot_item), {"file": png()}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    evidence = Evidence.objects.get(item=screenshot_item)
    assert f'<img class="thumb" src="{reverse("pages:evidence-file", kwargs={"pk": evidence.pk})}"' in html
    assert "Evidence attached" in html
    # Ops may upload but not tick: no tick button in their row.
    assert 'value="tick"' not in html


def test_a_rotated_phone_photo_is_laid_out_upright(screenshot_item, ops, stakeholder):
    # Stored landscape, EXIF orientation 6: upright it is a 300 × 500 portrait photo.
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.new("RGB", (500, 300), (200, 30, 30)).save(buffer, "JPEG", exif=exif.tobytes())
    photo = SimpleUploadedFile("IMG_0042.jpg", buffer.getvalue(), content_type="image/jpeg")
    response = client_for(ops).post(upload_url(screenshot_item), {"file": photo}, **HTMX)
    assert response.status_code == 200
    evidence = Evidence.objects.get(item=screenshot_item)
    with evidence.file.open("rb") as stored, Image.open(stored) as image:
        assert image.size == (300, 500)
    page = client_for(stakeholder).get(screenshot_item.gate.batch.get_absolute_url()).content.decode()
    for html in (response.content.decode(), page):
        assert 'loading="lazy" width="300" height="500">' in html


@pytest.mark.parametrize("htmx", [False, True])
def test_a_rejected_upload_shows_why_and_stores_nothing(screenshot_item, ops, htmx):
    bogus = SimpleUploadedFile("notes.png", b"this is not an image", content_type="image/png")
    response = client_for(ops).post(
        upload_url(screenshot_item), {"file": bogus}, follow=not htmx, **(HTMX if htmx else {})
    )
    assert "The file is not a readable PNG, JPEG or WebP image." in response.content.decode()
    assert response.status_code == (422 if htmx else 200)
    assert not Evidence.objects.exists()


@pytest.mark.parametrize("htmx", [False, True])
def test_an_upload_to_an_approved_batch_is_refused_and_stores_nothing(ops, htmx):
    from batches.models import BatchState
    from tests.factories import BatchFactory, ChecklistItemFactory
    from tests.signoffs.conftest import stored_files

    # Setup only: the lifecycle cannot approve a batch whose manual gate has no way to pass yet.
    item = ChecklistItemFactory(
        gate__batch=BatchFactory(state=BatchState.APPROVED, number=5), text="Render dashboard", evidence_required=True
    )
    response = client_for(ops).post(upload_url(item), {"file": png()}, follow=not htmx, **(HTMX if htmx else {}))
    html = response.content.decode()
    refusal = "Batch 5 is approved; its evidence is final. Add a note instead."
    if htmx:
        assert response.status_code == 422
        assert f'<li class="row item" id="item-{item.pk}">' in html
        assert f'<p class="error" role="alert">{refusal}</p>' in html
    else:
        assert response.redirect_chain[-1][0].endswith(f"#item-{item.pk}")
        assert f"“Render dashboard”: {refusal}" in html
    assert not Evidence.objects.exists()
    assert stored_files() == []


def test_upload_without_a_file_says_so(screenshot_item, ops):
    response = client_for(ops).post(upload_url(screenshot_item), {}, **HTMX)
    assert response.status_code == 422
    assert "Choose a screenshot to upload." in response.content.decode()


@pytest.mark.parametrize("persona", ["engineer", "stakeholder", "outsider"])
def test_others_cannot_upload(request, screenshot_item, persona):
    response = client_for(request.getfixturevalue(persona)).post(upload_url(screenshot_item), {"file": png()})
    assert response.status_code == 403
    assert "can upload evidence." in response.content.decode()
    assert not Evidence.objects.exists()


def test_upload_needs_login_post_and_csrf(screenshot_item, ops):
    assert client_for().post(upload_url(screenshot_item), {"file": png()})["Location"].startswith(reverse("login"))
    assert client_for(ops).get(upload_url(screenshot_item)).status_code == 405
    assert client_for(ops, csrf=True).post(upload_url(screenshot_item), {"file": png()}).status_code == 403
    assert not Evidence.objects.exists()


def test_evidence_then_tick_then_everyone_sees_it(screenshot_item, ops, engineer, stakeholder):
    client_for(ops).post(upload_url(screenshot_item), {"file": png()})
    assert client_for(engineer).post(signoff_url(screenshot_item), {"action": "tick"}).status_code == 302
    html = " ".join(client_for(stakeholder).get(screenshot_item.gate.batch.get_absolute_url()).content.decode().split())
    assert "Ticked</strong> by eddie" in html
    assert "sentry.png · olga" in html


def test_with_redis_down_ticks_and_uploads_work_and_thumbnails_catch_up(
    item, screenshot_item, engineer, ops, redis_down, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from signoffs.tasks import thumbnails_catch_up
    from tests.conftest import broker_back_up

    with django_capture_on_commit_callbacks(execute=True):
        ticked = client_for(engineer).post(signoff_url(item), {"action": "tick", "note": "checked"})
        uploaded = client_for(ops).post(upload_url(screenshot_item), {"file": png()}, **HTMX)
    assert ticked.status_code == 302
    assert SignOff.objects.filter(item=item, user=engineer).exists()
    assert uploaded.status_code == 200
    evidence = Evidence.objects.get(item=screenshot_item)
    assert not evidence.thumbnail  # its task could not be queued

    broker_back_up(redis_down)
    assert thumbnails_catch_up(older_than=timedelta(0)) == 1
    evidence.refresh_from_db()
    assert evidence.thumbnail
    assert thumbnails_catch_up(older_than=timedelta(0)) == 0


# With Redis unreachable the cache raised on every page's live region: pages and polls answered 500.
def test_with_redis_down_pages_polls_and_sign_in_work_without_the_cache(item, engineer, redis_down, settings):
    from tests.factories import PASSWORD

    settings.LIVE_VERSION_CACHE_MS = 250  # the shared reading of the version, from the cache
    page_url = item.gate.batch.get_absolute_url()
    browser = Client()
    signed_in = browser.post(reverse("login"), {"username": engineer.username, "password": PASSWORD})
    assert signed_in.status_code == 302  # sessions are in the database, not in Redis
    page = browser.get(page_url)
    assert page.status_code == 200
    version = page.context["version"]
    assert browser.get(page_url, {"v": version}, **HTMX).status_code == 204  # nothing changed
    assert browser.post(signoff_url(item), {"action": "tick"}, **HTMX).status_code == 200
    changed = browser.get(page_url, {"v": version}, **HTMX)
    assert changed.status_code == 200
    assert "Ticked" in changed.content.decode()
