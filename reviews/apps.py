from __future__ import annotations

from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    """The stakeholder review. It adds its section to the sign-off record through the record's seam
    (``signoffs.audit.register_record_section``), so ``signoffs`` never imports this app."""

    name = "reviews"

    def ready(self) -> None:
        from reviews.history import record_section
        from signoffs.audit import register_record_section

        register_record_section(record_section)
