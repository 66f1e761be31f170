"""Deploy and observability gates that import added to every batch now come from the plan's settings.

Before, every batch of every plan got them. They are marked as the settings'
gates (under their own keys), and removed from batches not yet approved in
plans that configure neither Render nor Sentry: those gates could only ever be
waived. Approved batches keep everything they were approved with.
"""

from django.db import migrations

OLD_LABELS = {
    "deploy": ("deploy-auto", "Render deploy of the batch is live"),
    "observability": ("observability-auto", "Sentry: no new errors since the deploy"),
}


def forwards(apps, schema_editor):
    Gate = apps.get_model("batches", "Gate")
    for kind, (key, label) in OLD_LABELS.items():
        for gate in Gate.objects.filter(kind=kind, label=label, origin="plan").select_related("batch__plan"):
            plan = gate.batch.plan
            configured = (
                any(isinstance(s, str) and s.strip() for s in plan.render_service_ids or [])
                if kind == "deploy"
                else bool(plan.sentry_organization.strip() and plan.sentry_project.strip())
            )
            if gate.batch.state != "approved" and not configured:
                gate.delete()
                continue
            taken = Gate.objects.filter(batch_id=gate.batch_id, key=key).exclude(pk=gate.pk).exists()
            gate.origin = "settings"
            if not taken:
                gate.key = key
            gate.save(update_fields=["origin", "key"])


class Migration(migrations.Migration):
    dependencies = [("batches", "0004_lifecycle")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
