"""The four roles are Django groups; permissions are checked through these helpers."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, AnonymousUser, User
from django.db import models

# Who a request is from: a signed-in user or an anonymous one (``request.user``).
type AnyUser = AbstractUser | AnonymousUser
# Who does something the history records (a tick, a waiver, a start): a signed-in person.
type Actor = User


class Role(models.TextChoices):
    STAKEHOLDER = "stakeholder", "Stakeholder"
    OPS = "ops", "Ops"
    ENGINEER = "engineer", "Engineer"
    RELEASE_MANAGER = "release_manager", "Release manager"


# Which roles may do what. Views ask `user_can(user, action)`; templates only
# use the answer to hide controls, never to enforce.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset(Role.values),
    "tick": frozenset({Role.ENGINEER, Role.RELEASE_MANAGER}),
    "upload_evidence": frozenset({Role.OPS, Role.RELEASE_MANAGER}),
    "view_evidence": frozenset(Role.values),
    "change_batch_state": frozenset({Role.RELEASE_MANAGER}),
    "link_pr": frozenset({Role.RELEASE_MANAGER}),
    "import_plan": frozenset({Role.RELEASE_MANAGER}),
    "waive_gate": frozenset({Role.RELEASE_MANAGER}),
    "configure_plan": frozenset({Role.RELEASE_MANAGER}),
    "simulate_providers": frozenset({Role.RELEASE_MANAGER}),
    "run_review": frozenset({Role.RELEASE_MANAGER}),
    "edit_checklist": frozenset({Role.RELEASE_MANAGER}),
    "post_summary": frozenset({Role.RELEASE_MANAGER}),
    "recompute_metrics": frozenset({Role.RELEASE_MANAGER}),
    "manage_lockouts": frozenset({Role.RELEASE_MANAGER}),
}

ACTION_DESCRIPTIONS = {
    "view": "see plans",
    "view_evidence": "see evidence",
    "tick": "tick checklist items",
    "upload_evidence": "upload evidence",
    "change_batch_state": "start, close or approve batches",
    "link_pr": "link pull requests",
    "import_plan": "import plans",
    "waive_gate": "waive gates",
    "configure_plan": "change a plan's integrations",
    "simulate_providers": "change the demo's simulated providers",
    "run_review": "run a batch's review",
    "edit_checklist": "change a plan's release checklist",
    "post_summary": "post a batch's summary to GitHub",
    "recompute_metrics": "recompute a plan's metrics",
    "manage_lockouts": "see and clear sign-in lockouts",
}


def user_roles(user: AnyUser) -> set[str]:
    if not user.is_authenticated:
        return set()
    # Remembered on the user object: a page asks several times per request, and the
    # cached user (portal/auth.py) carries them from request to request. getattr and
    # setattr, not __dict__: request.user is a lazy proxy, and they reach the user itself.
    cached: set[str] | None = getattr(user, "_gatehouse_roles", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
        if user.is_superuser:
            cached.add(Role.RELEASE_MANAGER)
        setattr(user, "_gatehouse_roles", cached)  # noqa: B010 (not a declared attribute)
    return cached


def user_can(user: AnyUser, action: str) -> bool:
    return bool(user_roles(user) & PERMISSIONS[action])


def denial_reason(action: str) -> str:
    allowed = ", ".join(Role(r).label.lower() + "s" for r in sorted(PERMISSIONS[action]))
    return f"Only {allowed} can {ACTION_DESCRIPTIONS.get(action, action)}."
