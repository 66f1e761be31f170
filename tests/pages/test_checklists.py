"""The plan's release checklist page: reading, importing a file, editing items; roles, methods, htmx, queries."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from reviews.checklist import checklist_import
from reviews.models import ReleaseCheckItem, ReleaseChecklist, ReleaseCheckRevision
from tests.pages.helpers import HTMX, SLUG, client_for, page_text, query_count
from tests.reviews.conftest import GUIDE

PAGE = reverse("pages:checklist", kwargs={"slug": SLUG})
IMPORT = reverse("pages:checklist-import", kwargs={"slug": SLUG})
EDIT = reverse("pages:checklist-edit", kwargs={"slug": SLUG})


def upload(content: bytes, name: str = "PRODUCTION_DEPLOYMENT_GUIDE.md") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/markdown")


@pytest.mark.parametrize("persona", ["release_manager", "engineer", "ops", "stakeholder"])
def test_every_role_reads_the_checklist(request, checklist, persona):
    html = page_text(client_for(request.getfixturevalue(persona)).get(PAGE))
    assert "Sentry shows no new errors since the deploy" in html
    assert ("Import checklist" in html) == (persona == "release_manager")


def test_outsiders_and_strangers(sample_plan, outsider):
    assert client_for(outsider).get(PAGE).status_code == 403
    assert client_for().get(PAGE)["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("target", [IMPORT, EDIT])
def test_changes_need_a_release_manager_post_and_csrf(sample_plan, release_manager, engineer, target):
    assert client_for(engineer).post(target, {"action": "add", "text": "x"}).status_code == 403
    assert client_for().post(target)["Location"].startswith(reverse("login"))
    assert client_for(release_manager).get(target).status_code == 405
    assert client_for(release_manager, csrf=True).post(target, {"action": "add", "text": "x"}).status_code == 403
    assert not ReleaseCheckItem.objects.exists()


def test_upload_imports_the_guide(sample_plan, release_manager):
    client = client_for(release_manager)
    response = client.post(IMPORT, {"file": upload(GUIDE.read_bytes())}, follow=True)
    assert "Checklist imported from PRODUCTION_DEPLOYMENT_GUIDE.md: 8 added." in page_text(response)
    assert ReleaseCheckItem.objects.filter(checklist__plan=sample_plan).count() == 8


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "guide.md is empty"),
        (b"# Guide\nNo items here.\n", "guide.md has no checklist items"),
        (b"# Guide\n- [ ] ok\n\x00\x01binary", "guide.md, line 3: this is a binary file"),
    ],
    ids=["empty", "no-items", "binary"],
)
def test_a_bad_upload_shows_the_error_and_writes_nothing(checklist, release_manager, content, message):
    before = list(ReleaseCheckItem.objects.values_list("pk", "text"))
    response = client_for(release_manager).post(IMPORT, {"file": upload(content, "guide.md")})
    assert response.status_code == 422
    assert message in page_text(response)
    assert list(ReleaseCheckItem.objects.values_list("pk", "text")) == before


def test_edit_add_and_remove_keep_the_history(checklist, release_manager):
    client = client_for(release_manager)
    item = ReleaseCheckItem.objects.get(text="Sentry shows no new errors since the deploy")
    client.post(EDIT, {"action": "edit", "item": item.pk, "text": "Sentry: no new issues since the deploy"})
    client.post(EDIT, {"action": "add", "heading": "After the deploy", "text": "Status page updated"})
    added = ReleaseCheckItem.objects.get(text="Status page updated")
    client.post(EDIT, {"action": "retire", "item": added.pk})
    item.refresh_from_db()
    added.refresh_from_db()
    assert item.text == "Sentry: no new issues since the deploy"
    assert added.retired
    html = page_text(client.get(PAGE))
    assert "“Sentry shows no new errors since the deploy” → “Sentry: no new issues since the deploy”" in html
    assert "Removed items (1)" in html


def test_htmx_edit_swaps_the_row_and_a_refusal_says_why(checklist, release_manager):
    client = client_for(release_manager)
    item = ReleaseCheckItem.objects.order_by("position").first()
    ok = client.post(EDIT, {"action": "edit", "item": item.pk, "text": "Every PR merged, CI green"}, **HTMX)
    assert ok.status_code == 200
    assert ok.content.decode().lstrip().startswith(f'<li class="row checklist-entry" id="entry-{item.pk}"')
    refused = client.post(EDIT, {"action": "edit", "item": item.pk, "text": "  "}, **HTMX)
    assert refused.status_code == 422
    assert "Write the checklist item." in refused.content.decode()
    assert ReleaseCheckRevision.objects.filter(item=item).count() == 2


def test_an_item_of_another_plan_is_not_found(checklist, release_manager, plan):
    other = checklist_import(plan=plan, source=b"- [ ] Elsewhere\n", source_name="x.md").checklist
    foreign = other.items.get()
    response = client_for(release_manager).post(EDIT, {"action": "edit", "item": foreign.pk, "text": "Hijacked"})
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.text == "Elsewhere"


def test_the_page_costs_the_same_however_long_the_checklist(
    sample_plan, release_manager, django_assert_max_num_queries
):
    client = client_for(release_manager)
    checklist_import(plan=sample_plan, source=b"# A\n- [ ] one\n", source_name="a.md")
    small = query_count(client, PAGE)
    lines = "\n".join(f"- [ ] check {n}" for n in range(60))
    checklist_import(plan=sample_plan, source=f"# A\n{lines}\n".encode(), source_name="b.md")
    checklist_import(plan=sample_plan, source=f"# B\n{lines}\n".encode(), source_name="c.md")
    with django_assert_max_num_queries(small):
        client.get(PAGE)
    assert ReleaseChecklist.objects.count() == 1


def test_the_plan_page_links_its_release_checklist(sample_plan, stakeholder):
    html = client_for(stakeholder).get(reverse("pages:plan", kwargs={"slug": SLUG})).content.decode()
    assert f'href="{PAGE}">Release checklist</a>' in html
