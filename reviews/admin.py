"""Read-only admin views: the review records are append-only, so the admin shows them and changes nothing."""

from __future__ import annotations

from django.contrib import admin

from reviews.models import (
    ReleaseCheckItem,
    ReleaseCheckRevision,
    ReviewAttendee,
    ReviewConfirmation,
    ReviewDecision,
    ReviewSession,
    SummaryComment,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReleaseCheckItem)
class ReleaseCheckItemAdmin(ReadOnlyAdmin):
    list_display = ("text", "heading", "checklist", "position", "retired")
    list_filter = ("retired",)


@admin.register(ReleaseCheckRevision)
class ReleaseCheckRevisionAdmin(ReadOnlyAdmin):
    list_display = ("item", "action", "source", "by", "created_at")


@admin.register(ReviewSession)
class ReviewSessionAdmin(ReadOnlyAdmin):
    list_display = ("batch", "number", "opened_by", "opened_at")


@admin.register(ReviewAttendee)
class ReviewAttendeeAdmin(ReadOnlyAdmin):
    list_display = ("name", "session", "user", "added_at")


@admin.register(ReviewConfirmation)
class ReviewConfirmationAdmin(ReadOnlyAdmin):
    list_display = ("item_text", "attendee", "session", "created_at")


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(ReadOnlyAdmin):
    list_display = ("session", "decision", "decided_by", "decided_at")


@admin.register(SummaryComment)
class SummaryCommentAdmin(ReadOnlyAdmin):
    list_display = ("batch", "pr", "html_url", "found_existing", "posted_at")
