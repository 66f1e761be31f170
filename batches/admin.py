from __future__ import annotations

from django.contrib import admin

from batches.models import (
    Batch,
    BatchEvent,
    ConditionalCache,
    Gate,
    GateEvent,
    Plan,
    PlannedPR,
    WebhookDelivery,
)
from portal.admin import ReadOnlyHistoryAdmin


class BatchInline(admin.TabularInline):
    model = Batch
    fields = ["number", "title", "target_pr_count", "state"]
    readonly_fields = ["state"]
    extra = 0
    show_change_link = True


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "github_repository", "imported_at"]
    search_fields = ["title", "slug", "github_repository"]
    readonly_fields = ["source_name", "source_sha256", "imported_at", "created_at", "updated_at"]
    inlines = [BatchInline]
    fieldsets = [
        (None, {"fields": ["title", "slug", "purpose", "max_prs_per_batch"]}),
        ("From the plan", {"fields": ["principles", "cadence", "stakeholder_checkpoint", "metrics", "next_steps"]}),
        (
            "Integrations",
            {
                "fields": [
                    "github_repository",
                    "ai_reviewer_check_name",
                    "ai_reviewer_bot_login",
                    "ai_review_timeout_minutes",
                    "render_service_ids",
                    "sentry_organization",
                    "sentry_project",
                    "sentry_environment",
                ]
            },
        ),
        ("Audit", {"fields": ["source_name", "source_sha256", "imported_at", "created_at", "updated_at"]}),
    ]


class PlannedPRInline(admin.TabularInline):
    model = PlannedPR
    fields = ["number", "task", "github_url", "github_state", "head_sha", "merged_at"]
    readonly_fields = ["head_sha", "github_state", "merged_at"]
    extra = 0


class GateInline(admin.TabularInline):
    model = Gate
    fields = ["key", "kind", "label", "check_name", "state", "last_checked_at"]
    readonly_fields = ["state", "last_checked_at"]
    extra = 0
    show_change_link = True


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ["__str__", "plan", "state", "target_pr_count", "started_at", "approved_at"]
    list_filter = ["state", "plan"]
    search_fields = ["title", "plan__title"]
    list_select_related = ["plan"]
    # Lifecycle fields change only through the governed methods, never by hand.
    readonly_fields = [
        "state",
        "started_at",
        "started_by",
        "ready_at",
        "approved_at",
        "approved_by",
        "created_at",
        "updated_at",
    ]
    inlines = [PlannedPRInline, GateInline]


@admin.register(PlannedPR)
class PlannedPRAdmin(admin.ModelAdmin):
    list_display = ["__str__", "batch", "github_url", "github_state", "merged_at", "last_synced_at"]
    list_filter = ["github_state", "batch__plan"]
    search_fields = ["task", "github_url", "head_sha"]
    list_select_related = ["batch", "batch__plan"]
    readonly_fields = [
        "head_sha",
        "github_state",
        "draft",
        "merged_at",
        "merge_commit_sha",
        "changed_files",
        "head_committed_at",
        "last_synced_at",
    ]


@admin.register(Gate)
class GateAdmin(admin.ModelAdmin):
    list_display = ["label", "kind", "batch", "state", "last_checked_at"]
    list_filter = ["kind", "state", "batch__plan"]
    search_fields = ["label", "check_name", "detail"]
    list_select_related = ["batch", "batch__plan"]
    filter_horizontal = ["prs"]
    # State comes from evaluation and waivers from the waive action; both are audit data.
    readonly_fields = [
        "state",
        "last_known_state",
        "detail",
        "detail_url",
        "source",
        "last_checked_at",
        "state_changed_at",
        "waived_at",
        "waived_by",
        "waiver_reason",
    ]


@admin.register(GateEvent)
class GateEventAdmin(ReadOnlyHistoryAdmin):
    """Gate history is append-only."""

    list_display = ["created_at", "gate", "action", "previous_state", "state", "by"]
    list_filter = ["action", "state"]
    list_select_related = ["gate", "by"]


@admin.register(BatchEvent)
class BatchEventAdmin(ReadOnlyHistoryAdmin):
    """Batch history (lifecycle moves, overrides, gates the settings added) is append-only."""

    list_display = ["created_at", "batch", "action", "by", "reason"]
    list_filter = ["action", "batch__plan"]
    list_select_related = ["batch", "by"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["received_at", "event", "delivery_id", "pr_count"]
    list_filter = ["event"]
    search_fields = ["delivery_id"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ConditionalCache)
class ConditionalCacheAdmin(admin.ModelAdmin):
    """Stored provider responses behind the ETag requests. Deleting a row forces a full re-fetch."""

    list_display = ["url", "etag", "fetched_at"]
    search_fields = ["url"]
    readonly_fields = ["url", "etag", "last_modified", "link", "body", "fetched_at"]

    def has_add_permission(self, request) -> bool:
        return False
