from __future__ import annotations

from django.contrib import admin

from signoffs.models import ChecklistItem, Evidence, SignOff


class ReadOnlyHistoryAdmin(admin.ModelAdmin):
    """History is append-only: the admin may look, never add, change or delete."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SignOffInline(admin.TabularInline):
    model = SignOff
    fields = ["sequence", "action", "user", "note", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ChecklistItem)
class ChecklistItemAdmin(admin.ModelAdmin):
    list_display = ["text", "gate", "evidence_required"]
    list_filter = ["evidence_required", "gate__batch__plan"]
    search_fields = ["text"]
    list_select_related = ["gate", "gate__batch"]
    readonly_fields = ["gate", "key"]
    inlines = [SignOffInline]


@admin.register(SignOff)
class SignOffAdmin(ReadOnlyHistoryAdmin):
    list_display = ["item", "action", "user", "created_at", "sequence"]
    list_filter = ["action", "item__gate__batch__plan"]
    search_fields = ["note", "user__username", "item__text"]
    list_select_related = ["item", "user"]
    date_hierarchy = "created_at"


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyHistoryAdmin):
    list_display = ["original_name", "item", "format", "uploaded_by", "uploaded_at", "stored_sha256"]
    list_filter = ["format", "item__gate__batch__plan"]
    search_fields = ["original_name", "original_sha256", "stored_sha256"]
    list_select_related = ["item", "uploaded_by"]
    date_hierarchy = "uploaded_at"
