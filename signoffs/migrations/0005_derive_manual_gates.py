"""Manual gates now follow their checklist; derive the state of existing ones once.

Until now nothing wrote a manual gate's state, so it stayed "pending" however
many items were ticked. The rule is the one ``signoffs.services.manual_gate_refresh``
applies from now on: passing when every item's latest tick/untick is a tick and
every evidence-required item has a file.
"""

from django.db import migrations
from django.utils import timezone


def forwards(apps, schema_editor):
    Gate = apps.get_model("batches", "Gate")
    GateEvent = apps.get_model("batches", "GateEvent")
    ChecklistItem = apps.get_model("signoffs", "ChecklistItem")
    SignOff = apps.get_model("signoffs", "SignOff")
    Evidence = apps.get_model("signoffs", "Evidence")
    now = timezone.now()
    for gate in Gate.objects.filter(kind="manual").exclude(batch__state="approved"):
        items = list(ChecklistItem.objects.filter(gate=gate))
        ticked = done = missing = 0
        for item in items:
            last = (
                SignOff.objects.filter(item=item, action__in=["tick", "untick", "reset"]).order_by("-sequence").first()
            )
            is_ticked = last is not None and last.action == "tick"
            needs = item.evidence_required and not Evidence.objects.filter(item=item).exists()
            ticked += is_ticked
            missing += needs
            done += is_ticked and not needs
        state = "passing" if items and done == len(items) else "pending"
        noun = "item" if len(items) == 1 else "items"
        detail = f"{ticked} of {len(items)} {noun} ticked" if items else "The checklist has no items"
        if missing:
            detail += f"; {missing} still need{'s' if missing == 1 else ''} a screenshot"
        detail += "."
        if state != gate.state:
            GateEvent.objects.create(
                gate=gate, action="state_changed", state=state, previous_state=gate.state, detail=detail
            )
        Gate.objects.filter(pk=gate.pk).update(
            state=state, detail=detail, source="Manual checklist", last_checked_at=now,
            state_changed_at=now if state != gate.state else gate.state_changed_at,
        )


class Migration(migrations.Migration):
    dependencies = [("signoffs", "0004_reimport_records"), ("batches", "0005_settings_gates")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
