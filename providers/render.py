"""Render REST client: the deploys of a service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from providers._parse import parse_each, parse_time
from providers.http import ConditionalStore, HttpClient

PROVIDER = "Render"

LIVE = "live"
# A deploy that went live and was later replaced by a newer one reads "deactivated".
WENT_LIVE = frozenset({LIVE, "deactivated"})
ROLLBACK = "rollback"
FAILED = frozenset({"build_failed", "update_failed", "pre_deploy_failed", "canceled"})
IN_PROGRESS = frozenset({"created", "queued", "build_in_progress", "update_in_progress", "pre_deploy_in_progress"})


@dataclass(frozen=True)
class Deploy:
    id: str
    status: str
    commit_sha: str  # empty for image deploys
    created_at: datetime | None
    finished_at: datetime | None
    trigger: str = ""  # new_commit, manual, rollback, … (deploy_enums.json)

    @classmethod
    def from_json(cls, item: dict) -> Deploy:
        # List items wrap the deploy beside its pagination cursor: {"cursor": …, "deploy": {…}}.
        data = item["deploy"] if "deploy" in item else item
        commit = data.get("commit") or {}
        return cls(
            id=str(data["id"]),
            status=str(data.get("status") or ""),
            commit_sha=commit.get("id") or "",
            created_at=parse_time(data.get("createdAt")),
            finished_at=parse_time(data.get("finishedAt")),
            trigger=str(data.get("trigger") or ""),
        )


class RenderClient:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        store: ConditionalStore | None = None,
    ) -> None:
        api_key = api_key if api_key is not None else settings.RENDER_API_KEY
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.http = HttpClient(
            provider=PROVIDER,
            base_url=base_url or settings.RENDER_API_URL,
            headers=headers,
            timeout=timeout,
            store=store,
        )

    def __enter__(self) -> RenderClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def list_deploys(self, service_id: str, *, limit: int = 20) -> list[Deploy]:
        """The service's most recent deploys, newest first.

        Render does not document the list's sort order, so we sort by
        ``createdAt`` ourselves instead of trusting ``limit=1``.
        """
        data = self.http.get_json(f"services/{service_id}/deploys", {"limit": limit})
        deploys = parse_each(PROVIDER, "deploys", data, Deploy.from_json)
        return sorted(deploys, key=lambda d: (d.created_at is not None, d.created_at), reverse=True)

    def latest_deploy(self, service_id: str) -> Deploy | None:
        deploys = self.list_deploys(service_id)
        return deploys[0] if deploys else None
