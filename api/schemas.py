"""What the API answers, as pydantic schemas: the OpenAPI document is generated from these."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.urls import reverse
from ninja import Schema
from pydantic import Field


class Error(Schema):
    detail: str = Field(description="What went wrong, in a sentence")


class Tally(Schema):
    passing: int
    waived: int
    failing: int
    stale: int
    pending: int
    total: int
    outstanding: int = Field(description="Gates keeping the batch from being ready: neither passing nor waived")


class Verdict(Schema):
    tone: str = Field(description="good / warn / bad / neutral")
    headline: str
    detail: str


def _absolute(context: Any, path: str) -> str:
    return context["request"].build_absolute_uri(path)


class PlanOut(Schema):
    slug: str
    title: str
    purpose: str
    batch_count: int
    metrics: list[str] = Field(description="Metric names the plan tracks")
    imported_at: datetime | None
    url: str = Field(description="The plan's page")

    @staticmethod
    def resolve_url(obj: Any, context: Any) -> str:
        return _absolute(context, obj.get_absolute_url())


class BatchSummary(Schema):
    number: int
    title: str
    state: str = Field(description="planned / in_progress / ready_for_review / approved")
    state_label: str
    target_pr_count: int
    started_at: datetime | None
    ready_at: datetime | None
    approved_at: datetime | None
    tally: Tally
    verdict: Verdict
    blockers: list[str] = Field(description="What stands in the batch's way, in the portal's own words")
    url: str


class Waiver(Schema):
    by: str | None
    at: datetime
    reason: str


class ChecklistItemOut(Schema):
    id: int
    key: str
    text: str
    evidence_required: bool
    ticked: bool
    done: bool = Field(description="Ticked, with current evidence where it is required")
    ticked_by: str | None
    ticked_at: datetime | None
    current_evidence: list[int] = Field(description="Ids of the item's current evidence files")


class GateOut(Schema):
    id: int
    key: str
    kind: str = Field(description="ci / ai_review / manual / deploy / observability / docs")
    label: str
    status: str = Field(description="What people see: the evaluated state, or waived while a waiver stands")
    state: str = Field(description="What evaluation said: pending / passing / failing / stale / needs_config / …")
    detail: str
    detail_url: str
    source: str
    origin: str = Field(description="plan, or settings (added by the plan settings for every batch)")
    last_checked_at: datetime | None
    state_changed_at: datetime | None
    waiver: Waiver | None
    prs: list[int] = Field(description="Planned PR numbers the gate covers")
    checklist: list[ChecklistItemOut]


class PullRequestOut(Schema):
    number: int = Field(description="The plan's own PR number")
    task: str
    github_url: str
    github_state: str
    draft: bool
    merged_at: datetime | None
    head_sha: str


class BatchEventOut(Schema):
    action: str
    by: str | None
    at: datetime
    reason: str
    detail: str


class BatchDetail(BatchSummary):
    goals: list[str]
    key_tasks: list[dict]
    started_by: str | None
    approved_by: str | None
    prs: list[PullRequestOut]
    gates: list[GateOut]
    history: list[BatchEventOut]


class GateStatus(Schema):
    key: str
    kind: str
    label: str
    status: str
    last_checked_at: datetime | None


class BatchStatus(Schema):
    """Small and stable enough to poll: answers ``304`` to ``If-None-Match`` while nothing changed."""

    plan: str
    number: int
    title: str
    state: str
    state_label: str
    verdict: Verdict
    tally: Tally
    blockers: list[str]
    gates: list[GateStatus]
    url: str


class PlanStatusBatch(Schema):
    number: int
    title: str
    state: str
    verdict: Verdict
    tally: Tally


class PlanStatus(Schema):
    plan: str
    title: str
    batches: list[PlanStatusBatch]
    url: str


class SignOffOut(Schema):
    id: int
    sequence: int = Field(description="The event's number in its item's history")
    gate: str = Field(description="The gate's key")
    item: str = Field(description="The item's key")
    item_text: str
    action: str = Field(description="tick / untick / note / reset / amended")
    by: str | None = Field(description="Who signed; null for a plan re-import's record")
    note: str
    at: datetime

    @staticmethod
    def resolve_gate(obj: Any) -> str:
        return obj.item.gate.key

    @staticmethod
    def resolve_item(obj: Any) -> str:
        return obj.item.key

    @staticmethod
    def resolve_item_text(obj: Any) -> str:
        return obj.item.text

    @staticmethod
    def resolve_by(obj: Any) -> str | None:
        return obj.user.get_username() if obj.user else None

    @staticmethod
    def resolve_at(obj: Any) -> datetime:
        return obj.created_at


class EvidenceOut(Schema):
    id: int
    gate: str
    item: str
    original_name: str
    format: str
    width: int
    height: int
    original_size: int
    stored_size: int
    original_sha256: str
    stored_sha256: str
    uploaded_by: str
    uploaded_at: datetime
    replaces: int | None = Field(description="The evidence this one replaced")
    current: bool = Field(description="Not replaced since")
    file_url: str = Field(description="The file, for people signed in to the portal (not served to tokens)")

    @staticmethod
    def resolve_gate(obj: Any) -> str:
        return obj.item.gate.key

    @staticmethod
    def resolve_item(obj: Any) -> str:
        return obj.item.key

    @staticmethod
    def resolve_uploaded_by(obj: Any) -> str:
        return obj.uploaded_by.get_username()

    @staticmethod
    def resolve_replaces(obj: Any) -> int | None:
        return obj.replaces_id

    @staticmethod
    def resolve_current(obj: Any) -> bool:
        return obj.is_current

    @staticmethod
    def resolve_file_url(obj: Any, context: Any) -> str:
        return _absolute(context, reverse("pages:evidence-file", kwargs={"pk": obj.pk}))


class CycleTime(Schema):
    """Seconds between the batch's lifecycle moves; null until the batch has made both moves."""

    start_to_ready_seconds: int | None
    ready_to_approved_seconds: int | None
    start_to_approved_seconds: int | None


class BatchMetrics(Schema):
    number: int
    title: str
    state: str
    started_at: datetime | None
    ready_at: datetime | None
    approved_at: datetime | None
    cycle_time: CycleTime
    escaped_defects: int | None = Field(description="null: no data (no deploy, no Sentry project, or not computed)")
    ai_findings_blocking: int | None = Field(description="null: no data")
    ai_findings_non_blocking: int | None = Field(description="null: no data")


class PlanMetrics(Schema):
    plan: str
    source: str = Field(description="Where the numbers come from: lifecycle (batch timestamps) or metrics")
    batches: list[BatchMetrics]
    median_start_to_approved_seconds: int | None = Field(description="Over approved batches; null when none")
