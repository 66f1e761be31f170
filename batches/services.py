"""Workflows that span several of the batches app's models, one module each.

Kept as one import path for callers: plan import (``batches.plan_import``),
plan settings (``batches.plan_settings``) and PR linking (``batches.pr_linking``).
"""

from __future__ import annotations

from batches.plan_import import ImportSummary, PlanImportError, plan_import, plan_slug_for
from batches.plan_settings import NOT_CHECKED_YET, implicit_gates_sync, plan_configure
from batches.pr_linking import PullRequestLinkError, PullRequestRef, parse_pull_request_url, planned_pr_link

__all__ = [
    "NOT_CHECKED_YET",
    "ImportSummary",
    "PlanImportError",
    "PullRequestLinkError",
    "PullRequestRef",
    "implicit_gates_sync",
    "parse_pull_request_url",
    "plan_configure",
    "plan_import",
    "plan_slug_for",
    "planned_pr_link",
]
