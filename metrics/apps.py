from __future__ import annotations

from django.apps import AppConfig


def _on_batch_approved(sender, *, batch, **kwargs) -> None:
    from metrics.tasks import batch_metrics_enqueue

    batch_metrics_enqueue(batch.pk)


class MetricsConfig(AppConfig):
    """Computes a batch's delivery metrics when ``batches`` announces its approval; the domain never imports this."""

    name = "metrics"

    def ready(self) -> None:
        from batches import signals

        signals.batch_approved.connect(_on_batch_approved, dispatch_uid="metrics.batch_approved")
