"""pages.views.metrics: the metrics page, its CSV export and the recompute button."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.urls import reverse

from batches.models import Batch
from metrics.models import BatchMetrics
from metrics.services import plan_metrics_recompute
from tests.journey import AI_BOT, REPO
from tests.pages.helpers import SLUG, client_for, page_text, query_count

pytestmark = pytest.mark.django_db


def metrics_url(slug: str = SLUG) -> str:
    return reverse("pages:plan-metrics", kwargs={"slug": slug})


def csv_url(slug: str = SLUG) -> str:
    return reverse("pages:plan-metrics-csv", kwargs={"slug": slug})


def recompute_url(slug: str = SLUG) -> str:
    return reverse("pages:plan-metrics-recompute", kwargs={"slug": slug})


@pytest.fixture
def approved(journey, django_capture_on_commit_callbacks):
    """Batch 1 approved through the journey; the approval stored its metrics."""
    with django_capture_on_commit_callbacks(execute=True):
        batch = journey.approve(journey.batch(1))
    return batch


# -- who may see it ----------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["stakeholder", "engineer", "ops", "release_manager"])
def test_everyone_who_reads_the_plan_sees_the_page_and_the_csv(persona, request, sample_plan):
    client = client_for(request.getfixturevalue(persona))
    assert client.get(metrics_url()).status_code == 200
    response = client.get(csv_url())
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{SLUG}-metrics.csv"'


def test_someone_in_no_role_is_refused_and_a_stranger_is_sent_to_sign_in(outsider, sample_plan):
    for url in (metrics_url(), csv_url()):
        assert client_for(outsider).get(url).status_code == 403
        response = client_for().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_the_page_answers_get_only(stakeholder, sample_plan):
    assert client_for(stakeholder).post(metrics_url()).status_code == 405
    assert client_for(stakeholder).post(csv_url()).status_code == 405


def test_an_unknown_plan_is_404(stakeholder, db):
    assert client_for(stakeholder).get(metrics_url("nope")).status_code == 404


def test_the_plan_page_links_the_metrics(stakeholder, sample_plan):
    page = client_for(stakeholder).get(reverse("pages:plan", kwargs={"slug": SLUG})).content.decode()
    assert f'href="{metrics_url()}"' in page


# -- what it shows ---------------------------------------------------------------------------


def cell(html: str, table: str, batch: int, index: int) -> str:
    """The text of the ``index``-th <td> of batch ``batch``'s row in table ``table``."""
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    row = re.search(rf'<tr data-batch="{batch}">(.*?)</tr>', body, re.S)
    assert row, f"no row for batch {batch} in {table}"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", cells[index]).split())


def test_no_deploy_and_no_sentry_project_read_no_data_never_zero(approved, stakeholder):
    html = client_for(stakeholder).get(metrics_url()).content.decode()
    row = BatchMetrics.objects.get(batch=approved)
    assert cell(html, "table-cycle", 1, 3) == f"{round(row.start_to_approved_seconds / 3600, 2)}"
    # Batch 1's PRs were read and the bot found nothing: a real zero.
    assert (cell(html, "table-findings", 1, 0), cell(html, "table-findings", 1, 1)) == ("0", "0")
    # No Sentry project, no Render services: no data, never 0.
    assert cell(html, "table-escapes", 1, 0) == "no data"
    assert cell(html, "table-escapes", 1, 1) == "no data"
    # Batch 2 is not approved: nothing but no data, and why.
    assert cell(html, "table-findings", 2, 0) == "no data"
    assert cell(html, "table-escapes", 2, 0) == "no data"
    assert "Planned: the metrics are computed when the batch is approved." in page_text(
        client_for(stakeholder).get(metrics_url())
    )
    assert "No Render services in the plan settings" in html


def test_formulas_show_on_hover_and_in_the_list(approved, stakeholder):
    html = client_for(stakeholder).get(metrics_url()).content.decode()
    assert '<abbr title="Escaped defects = Sentry issues of the plan&#x27;s project first seen after' in html
    assert "<dt>Change failure rate</dt><dd>Change failure rate = batches with an escaped defect" in html


def test_chart_data_is_json_and_scripts_are_files_not_inline(approved, stakeholder):
    html = client_for(stakeholder).get(metrics_url()).content.decode()
    assert '<script id="metrics-data" type="application/json">' in html
    assert "vendor/chartjs/chart.umd.min.js" in html
    assert "js/metrics.js" in html
    inline = [s for s in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S) if s[1].strip()]
    assert all('type="application/json"' in attributes for attributes, _ in inline)
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers


def test_the_page_never_calls_a_provider(approved, stakeholder, journey):
    journey.fake.clear_seen()
    assert client_for(stakeholder).get(metrics_url()).status_code == 200
    assert client_for(stakeholder).get(csv_url()).status_code == 200
    assert journey.fake.seen == []


def test_the_dora_summary_compares_the_latest_batch_with_the_ones_before(approved, stakeholder):
    html = client_for(stakeholder).get(metrics_url()).content.decode()
    body = html.split('id="dora-table"', 1)[1].split("</table>", 1)[0]
    cycle = re.search(r'<tr data-metric="cycle_time">(.*?)</tr>', body, re.S).group(1)
    text = " ".join(re.sub(r"<[^>]+>", " ", cycle).split())
    # One approved batch: its value, nothing before it to compare with.
    assert "(Batch 1)" in text
    assert text.endswith("no data first")
    lead = re.search(r'<tr data-metric="lead_time">(.*?)</tr>', body, re.S).group(1)
    assert "no data" in lead


# -- CSV ---------------------------------------------------------------------------------------


def test_csv_has_the_same_rows_empty_for_no_data_and_is_injection_safe(approved, stakeholder):
    Batch.objects.filter(pk=approved.pk).update(title='=HYPERLINK("http://evil")')
    rows = list(csv.DictReader(io.StringIO(client_for(stakeholder).get(csv_url()).content.decode())))
    assert [int(r["batch"]) for r in rows] == [1, 2, 3, 4]
    first = rows[0]
    stored = BatchMetrics.objects.get(batch=approved)
    assert first["title"] == '\'=HYPERLINK("http://evil")'
    assert first["start_to_approved_seconds"] == str(stored.start_to_approved_seconds)
    assert (first["ai_findings_blocking"], first["ai_findings_non_blocking"]) == ("0", "0")
    assert first["escaped_defects"] == ""
    assert first["deploys_per_week"] == ""
    assert rows[1]["state"] == "planned"
    assert rows[1]["ai_findings_blocking"] == ""


# -- recompute -----------------------------------------------------------------------------------


def test_a_release_manager_recomputes(approved, release_manager):
    BatchMetrics.objects.all().delete()
    client = client_for(release_manager, csrf=False)
    page = client.get(metrics_url()).content.decode()
    assert f'action="{recompute_url()}"' in page
    response = client.post(recompute_url(), follow=True)
    assert response.redirect_chain == [(metrics_url(), 302)]
    assert "Recomputed the metrics of 1 approved batch." in page_text(response)
    assert BatchMetrics.objects.get().batch == approved


def test_recompute_is_for_release_managers_only(approved, engineer, stakeholder):
    for user in (engineer, stakeholder):
        page = client_for(user).get(metrics_url()).content.decode()
        assert recompute_url() not in page
        assert client_for(user).post(recompute_url()).status_code == 403
    response = client_for().post(recompute_url())
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_recompute_is_a_post_with_csrf(approved, release_manager):
    assert client_for(release_manager).get(recompute_url()).status_code == 405
    assert client_for(release_manager, csrf=True).post(recompute_url()).status_code == 403


# -- cost ------------------------------------------------------------------------------------------


def test_the_page_costs_the_same_queries_on_a_50_batch_plan(small_plan, big_plan, stakeholder):
    plan_metrics_recompute(plan=small_plan)
    assert plan_metrics_recompute(plan=big_plan) == 24
    client = client_for(stakeholder)
    small = query_count(client, metrics_url(small_plan.slug))
    big = query_count(client, metrics_url(big_plan.slug))
    assert small == big
    assert query_count(client, csv_url(small_plan.slug)) == query_count(client, csv_url(big_plan.slug))


def test_the_page_stays_within_its_query_budget(big_plan, stakeholder, django_assert_max_num_queries):
    plan_metrics_recompute(plan=big_plan)
    client = client_for(stakeholder)
    client.get(metrics_url(big_plan.slug))
    with django_assert_max_num_queries(6):
        assert client.get(metrics_url(big_plan.slug)).status_code == 200


def test_the_page_shows_new_numbers_as_soon_as_they_are_stored(approved, stakeholder, journey):
    """The page is cached by a digest of its numbers: a recompute that changes them shows at once."""
    client = client_for(stakeholder)
    assert cell(client.get(metrics_url()).content.decode(), "table-findings", 1, 0) == "0"
    journey.fake.github_reviews(REPO, 101, [{"login": AI_BOT, "state": "CHANGES_REQUESTED"}])
    plan_metrics_recompute(plan=journey.plan)
    assert cell(client.get(metrics_url()).content.decode(), "table-findings", 1, 0) == "1"
    journey.batch(2).start(by=journey.release_manager)
    assert "In progress: the metrics are computed when the batch is approved." in page_text(client.get(metrics_url()))
