from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from portal.admin import ReadOnlyHistoryAdmin
from signoffs.itemstate import item_state, replacement_chain
from signoffs.models import ChecklistItem, Evidence, SignOff


class SignOffInline(admin.TabularInline):
    model = SignOff
    readonly_fields = fields = ("sequence", "action", "user", "note", "created_at")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class EvidenceInline(admin.TabularInline):
    model = Evidence
    readonly_fields = fields = ("original_name", "format", "uploaded_by", "uploaded_at", "stored_sha256", "replaces")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ChecklistItem)
class ChecklistItemAdmin(admin.ModelAdmin):
    list_display = ["text", "gate", "evidence_required", "current_state"]
    list_filter = ["evidence_required", "gate__batch__plan"]
    search_fields = ["text"]
    list_select_related = ["gate", "gate__batch"]
    readonly_fields = ["gate", "key", "current_state"]
    inlines = [SignOffInline, EvidenceInline]

    def get_queryset(self, request):
        # The state comes from the history: prefetched, so the list costs a fixed number of queries.
        return super().get_queryset(request).prefetch_related("events__user", "evidence")

    @admin.display(description="State")
    def current_state(self, obj: ChecklistItem) -> str:
        state = item_state(obj)
        if state.ticked:
            return "ticked" + (" (needs a screenshot)" if state.needs_evidence else "")
        return "not ticked"


@admin.register(SignOff)
class SignOffAdmin(ReadOnlyHistoryAdmin):
    list_display = ["item", "action", "user", "created_at", "sequence"]
    list_filter = ["action", "item__gate__batch__plan"]
    search_fields = ["note", "user__username", "item__text"]
    list_select_related = ["item", "user"]
    date_hierarchy = "created_at"


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyHistoryAdmin):
    list_display = ["original_name", "item", "format", "uploaded_by", "uploaded_at", "stored_sha256", "replaces"]
    list_filter = ["format", "item__gate__batch__plan"]
    search_fields = ["original_name", "original_sha256", "stored_sha256"]
    list_select_related = ["item", "uploaded_by", "replaces"]
    date_hierarchy = "uploaded_at"
    fields = (
        "preview",
        "item",
        "uploaded_by",
        "uploaded_at",
        "original_name",
        "format",
        "width",
        "height",
        "original_size",
        "original_sha256",
        "stored_size",
        "stored_sha256",
        "note",
        "replacement_chain",
    )
    readonly_fields = fields

    @admin.display(description="Preview")
    def preview(self, obj: Evidence) -> str:
        # Served by the role-checking views, never from a media URL.
        file_url = reverse("pages:evidence-file", args=[obj.pk])
        if not obj.thumbnail:
            return format_html('<a href="{}">Open the file</a> (no thumbnail yet)', file_url)
        thumb_url = reverse("pages:evidence-thumbnail", args=[obj.pk])
        return format_html('<a href="{}"><img src="{}" alt="Thumbnail {}"></a>', file_url, thumb_url, obj.pk)

    @admin.display(description="Replacement chain (oldest first)")
    def replacement_chain(self, obj: Evidence) -> str:
        chain = evidence_chain(obj)
        return format_html_join(
            " → ",
            '<a href="{}">{}{}</a>',
            (
                (
                    reverse("admin:signoffs_evidence_change", args=[e.pk]),
                    f"#{e.pk} {e.original_name} ({e.uploaded_at:%Y-%m-%d %H:%M})",
                    " (this file)" if e.pk == obj.pk else "",
                )
                for e in chain
            ),
        )


def evidence_chain(evidence: Evidence) -> list[Evidence]:
    """Every file in ``evidence``'s replacement chain, oldest first (one query: its item's files)."""
    return replacement_chain(evidence, Evidence.objects.filter(item_id=evidence.item_id))
