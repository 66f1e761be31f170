"""Every page's URL (the paths are unchanged since the pages lived in the apps)."""

from __future__ import annotations

from django.urls import path

from pages.views import (
    account,
    batches,
    checklist,
    checklists,
    events,
    files,
    gates,
    health,
    metrics,
    notifications,
    plans,
    reviews,
)

app_name = "pages"

BATCH = "plans/<slug:slug>/batches/<int:number>/"

urlpatterns = [
    path("", plans.home, name="home"),
    path("healthz/", health.healthz, name="healthz"),
    path("readyz/", health.readyz, name="readyz"),
    path("import/", plans.plan_import_page, name="plan-import"),
    path("plans/<slug:slug>/", plans.plan_overview, name="plan"),
    path("plans/<slug:slug>/events/", events.plan_events, name="plan-events"),
    path("plans/<slug:slug>/roadmap/", plans.plan_roadmap, name="roadmap"),
    path("plans/<slug:slug>/settings/", plans.plan_settings, name="plan-settings"),
    path("plans/<slug:slug>/checklist/", checklists.checklist_view, name="checklist"),
    path("plans/<slug:slug>/checklist/import/", checklists.checklist_import_view, name="checklist-import"),
    path("plans/<slug:slug>/checklist/edit/", checklists.checklist_edit_view, name="checklist-edit"),
    path("plans/<slug:slug>/notifications/", notifications.plan_notifications, name="plan-notifications"),
    path("plans/<slug:slug>/metrics/", metrics.plan_metrics, name="plan-metrics"),
    path("plans/<slug:slug>/metrics.csv", metrics.plan_metrics_csv, name="plan-metrics-csv"),
    path("plans/<slug:slug>/metrics/recompute/", metrics.plan_metrics_recompute_view, name="plan-metrics-recompute"),
    path("account/tokens/", account.api_tokens, name="api-tokens"),
    path("account/tokens/<int:pk>/revoke/", account.api_token_revoke, name="api-token-revoke"),
    path("account/lockouts/", account.login_lockouts, name="login-lockouts"),
    path("account/lockouts/<int:pk>/clear/", account.login_lockout_clear, name="login-lockout-clear"),
    path(BATCH, batches.batch_review, name="batch"),
    path(f"{BATCH}present/", batches.batch_present, name="present"),
    path(f"{BATCH}events/", events.batch_events, name="batch-events"),
    path(f"{BATCH}start/", batches.batch_transition, {"move": "start"}, name="batch-start"),
    path(f"{BATCH}ready/", batches.batch_transition, {"move": "ready"}, name="batch-ready"),
    path(f"{BATCH}review/", reviews.review_page, name="review"),
    path(f"{BATCH}review/open/", reviews.review_open_view, name="review-open"),
    path(f"{BATCH}review/attendees/", reviews.review_attendee_view, name="review-attendee"),
    path(f"{BATCH}review/items/<int:item_pk>/confirm/", reviews.review_confirm_view, name="review-confirm"),
    path(f"{BATCH}review/decide/", reviews.review_decide_view, name="review-decide"),
    path(f"{BATCH}summary/", reviews.summary_page, name="summary"),
    path(f"{BATCH}summary/post/", reviews.summary_post_view, name="summary-post"),
    path(f"{BATCH}prs/<int:pr_number>/link/", batches.pr_link, name="pr-link"),
    path(f"{BATCH}audit.<str:fmt>", files.audit_record, name="audit-record"),
    path("gates/<int:pk>/waive/", gates.gate_waive_view, name="gate-waive"),
    path("gates/<int:pk>/revoke/", gates.gate_revoke_view, name="gate-revoke"),
    path("items/<int:pk>/signoff/", checklist.item_signoff, name="item-signoff"),
    path("items/<int:pk>/evidence/", checklist.evidence_upload, name="evidence-upload"),
    path("evidence/<int:pk>/file/", files.evidence_file, name="evidence-file"),
    path("evidence/<int:pk>/thumbnail/", files.evidence_thumbnail, name="evidence-thumbnail"),
]
