"""Sentry REST client: unresolved issues of a project and environment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from providers._parse import parse_each, parse_time
from providers.http import ConditionalStore, HttpClient

PROVIDER = "Sentry"


@dataclass(frozen=True)
class Issue:
    id: str
    short_id: str
    title: str
    status: str  # resolved, unresolved, ignored
    first_seen: datetime | None
    last_seen: datetime | None
    permalink: str
    project_slug: str
    count: int

    @classmethod
    def from_json(cls, data: dict) -> Issue:
        project = data.get("project") or {}
        return cls(
            id=str(data["id"]),
            short_id=data.get("shortId") or "",
            title=data.get("title") or "",
            status=str(data["status"]),
            first_seen=parse_time(data.get("firstSeen")),
            last_seen=parse_time(data.get("lastSeen")),
            permalink=data.get("permalink") or "",
            project_slug=project.get("slug") or "",
            # Sentry sends the event count as a string.
            count=int(data.get("count") or 0),
        )


class SentryClient:
    def __init__(
        self,
        *,
        token: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        store: ConditionalStore | None = None,
    ) -> None:
        token = token if token is not None else settings.SENTRY_AUTH_TOKEN
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        base = (base_url or settings.SENTRY_URL).rstrip("/") + "/api/0/"
        self.http = HttpClient(provider=PROVIDER, base_url=base, headers=headers, timeout=timeout, store=store)

    def __enter__(self) -> SentryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def unresolved_issues_since(
        self, *, organization: str, project: str, environment: str, since: datetime
    ) -> list[Issue]:
        """Unresolved issues of ``project`` first seen after ``since``.

        The query narrows the search server-side; the same conditions are
        applied again here because the organisation endpoint takes numeric
        project ids, not slugs, and because the answer must be right even if
        the search syntax is read differently by a self-hosted Sentry.
        """
        params = {
            "query": f"is:unresolved firstSeen:>{since.strftime('%Y-%m-%dT%H:%M:%S')}",
            "environment": environment or None,
            "statsPeriod": "",
            "limit": 100,
        }
        issues: list[Issue] = []
        for page in self.http.get_all(f"organizations/{organization}/issues/", params):
            issues.extend(parse_each(PROVIDER, "issues", page, Issue.from_json))
        return [
            issue
            for issue in issues
            if issue.status == "unresolved"
            and (not issue.project_slug or issue.project_slug == project)
            and issue.first_seen is not None
            and issue.first_seen > since
        ]

    def issues_first_seen_between(
        self, *, organization: str, project: str, environment: str, start: datetime, end: datetime
    ) -> list[Issue]:
        """Every issue of ``project`` (resolved or not) first seen after ``start`` and at or before ``end``.

        Like :meth:`unresolved_issues_since`, the conditions are applied again
        here, whatever the server made of the search.
        """
        params = {
            "query": (
                f"firstSeen:>{start.strftime('%Y-%m-%dT%H:%M:%S')} firstSeen:<={end.strftime('%Y-%m-%dT%H:%M:%S')}"
            ),
            "environment": environment or None,
            "statsPeriod": "",
            "limit": 100,
        }
        issues: list[Issue] = []
        for page in self.http.get_all(f"organizations/{organization}/issues/", params):
            issues.extend(parse_each(PROVIDER, "issues", page, Issue.from_json))
        return [
            issue
            for issue in issues
            if (not issue.project_slug or issue.project_slug == project)
            and issue.first_seen is not None
            and start < issue.first_seen <= end
        ]
