from __future__ import annotations

from django.contrib import admin

from notifications.models import Delivery


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Read-only: the log is written by the senders. Release managers also see it on each plan's page."""

    list_display = ("created_at", "plan", "event", "channel", "subject", "status", "attempts")
    list_filter = ("status", "channel", "event", "plan")
    search_fields = ("subject", "event_key")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
