"""Forms for the pages release managers edit. Forms parse and check input; the services decide."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from batches.critical_paths import CriticalPathError, clean_globs
from batches.models import Plan

AUTOMATIC, ON, OFF = "auto", "on", "off"
EVERY_BATCH_CHOICES = [
    (AUTOMATIC, "Automatic: when the provider is configured above"),
    (ON, "Always: every batch needs this gate"),
    (OFF, "Never: only where the plan names the gate"),
]
_TRI = {AUTOMATIC: None, ON: True, OFF: False}
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SERVICE_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def _tri_choice(value: bool | None) -> str:
    return {None: AUTOMATIC, True: ON, False: OFF}[value]


class PlanSettingsForm(forms.Form):
    github_repository = forms.CharField(
        label="GitHub repository", required=False, max_length=200, help_text="owner/name, e.g. acme/shop"
    )
    ai_reviewer_check_name = forms.CharField(
        label="AI reviewer's check name", required=False, max_length=200, help_text="e.g. claude-review"
    )
    ai_reviewer_bot_login = forms.CharField(
        label="AI reviewer's bot login", required=False, max_length=100, help_text="e.g. claude[bot]"
    )
    ai_review_timeout_minutes = forms.IntegerField(
        label="Minutes before a missing AI review counts as “reviewer unavailable”", min_value=1, max_value=10_080
    )
    render_service_ids = forms.CharField(
        label="Render service ids",
        required=False,
        max_length=1000,
        help_text="Comma-separated, e.g. srv-abc123, srv-def456",
    )
    sentry_organization = forms.CharField(label="Sentry organisation", required=False, max_length=100)
    sentry_project = forms.CharField(label="Sentry project", required=False, max_length=100)
    sentry_environment = forms.CharField(label="Sentry environment", required=False, max_length=100)
    deploy_gate_every_batch = forms.ChoiceField(
        label="Render deploy gate on every batch", choices=EVERY_BATCH_CHOICES, widget=forms.RadioSelect
    )
    observability_gate_every_batch = forms.ChoiceField(
        label="Sentry “no new errors” gate on every batch", choices=EVERY_BATCH_CHOICES, widget=forms.RadioSelect
    )
    critical_paths = forms.CharField(
        label="Critical paths",
        required=False,
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One path glob per line, e.g. backend/app/routers/**, render.yaml, **/auth/**",
    )

    @classmethod
    def for_plan(cls, plan: Plan, data: Any = None) -> PlanSettingsForm:
        initial = {
            "github_repository": plan.github_repository,
            "ai_reviewer_check_name": plan.ai_reviewer_check_name,
            "ai_reviewer_bot_login": plan.ai_reviewer_bot_login,
            "ai_review_timeout_minutes": plan.ai_review_timeout_minutes,
            "render_service_ids": ", ".join(plan.render_service_ids or []),
            "sentry_organization": plan.sentry_organization,
            "sentry_project": plan.sentry_project,
            "sentry_environment": plan.sentry_environment,
            "deploy_gate_every_batch": _tri_choice(plan.deploy_gate_every_batch),
            "observability_gate_every_batch": _tri_choice(plan.observability_gate_every_batch),
            "critical_paths": "\n".join(plan.critical_paths or []),
        }
        return cls(data=data, initial=initial)

    def clean_github_repository(self) -> str:
        value = self.cleaned_data["github_repository"].strip()
        if value.startswith("https://"):
            value = value.split("://", 1)[1].split("/", 1)[-1].strip("/")
        if value and not _REPOSITORY.match(value):
            raise forms.ValidationError("Write the repository as owner/name, e.g. acme/shop.")
        return value

    def clean_render_service_ids(self) -> list[str]:
        ids = [part.strip() for part in self.cleaned_data["render_service_ids"].split(",") if part.strip()]
        bad = [i for i in ids if not _SERVICE_ID.match(i)]
        if bad:
            raise forms.ValidationError(f"“{bad[0]}” is not a Render service id (they look like srv-abc123).")
        return list(dict.fromkeys(ids))

    def clean_critical_paths(self) -> list[str]:
        try:
            return clean_globs(self.cleaned_data["critical_paths"].splitlines())
        except CriticalPathError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # CharFields arrive stripped
        if bool(data.get("sentry_organization")) != bool(data.get("sentry_project")):
            self.add_error(
                "sentry_project" if data.get("sentry_organization") else "sentry_organization",
                "Set both the Sentry organisation and the project, or neither.",
            )
        for name in ("deploy_gate_every_batch", "observability_gate_every_batch"):
            if name in data:
                data[name] = _TRI[data[name]]
        return data
