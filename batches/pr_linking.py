"""Linking a planned PR to its real GitHub pull request by the URL a release manager pastes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse

from django.conf import settings
from django.utils import timezone

from batches.models import Plan, PlannedPR

PR_URL = re.compile(
    r"^https://(?P<host>[A-Za-z0-9.-]+(?::\d{1,5})?)/(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+)"
    r"/pull/(?P<number>[1-9]\d{0,9})(?:/[A-Za-z0-9/_-]*)?(?:[?#].*)?$"
)


class PullRequestLinkError(Exception):
    """The pasted text is not a pull request URL we accept. ``str()`` is for people."""


@dataclass
class PullRequestRef:
    repository: str
    number: int
    url: str


def github_web_host() -> str:
    """The web host whose PR URLs we accept: GITHUB_WEB_URL's, else github.com or the GitHub Enterprise host."""
    if settings.GITHUB_WEB_URL:
        return urlparse(str(settings.GITHUB_WEB_URL)).netloc
    host = urlparse(str(settings.GITHUB_API_URL)).netloc
    return "github.com" if host == "api.github.com" else host


def parse_pull_request_url(text: str, *, plan: Plan) -> PullRequestRef:
    url = text.strip()
    if not url:
        raise PullRequestLinkError("Paste the pull request's URL, e.g. https://github.com/owner/repo/pull/12.")
    match = PR_URL.match(url)
    if not match:
        raise PullRequestLinkError(
            f"“{url[:200]}” is not a pull request URL; expected https://{github_web_host()}/owner/repo/pull/NUMBER."
        )
    if match["host"].lower() != github_web_host().lower():
        raise PullRequestLinkError(
            f"That URL is on {match['host']}; this Gatehouse reads pull requests from {github_web_host()}."
        )
    repository = f"{match['owner']}/{match['repo']}"
    if plan.github_repository and plan.github_repository.lower() != repository.lower():
        raise PullRequestLinkError(
            f"This plan's pull requests live in {plan.github_repository}; that URL points to {repository}."
        )
    number = int(match["number"])
    return PullRequestRef(
        repository=repository, number=number, url=f"https://{match['host']}/{repository}/pull/{number}"
    )


def planned_pr_link(*, pr: PlannedPR, url: str) -> PlannedPR:
    """Point a planned PR at a real GitHub pull request given its pasted URL.

    Linking to a different pull request forgets what was synced from the old
    one (head commit, state, merge), so no gate reads stale data meanwhile.
    Raises PullRequestLinkError, changing nothing, when the URL is not acceptable.
    """
    ref = parse_pull_request_url(url, plan=pr.batch.plan)
    if (pr.github_repository, pr.github_number) != (ref.repository, ref.number):
        for name, value in {
            "head_sha": "",
            "github_state": "",
            "draft": False,
            "merged_at": None,
            "merge_commit_sha": "",
            "changed_files": [],
            "head_committed_at": None,
            "last_synced_at": None,
        }.items():
            setattr(pr, name, value)
    pr.github_repository = ref.repository
    pr.github_number = ref.number
    pr.github_url = ref.url
    pr.changed_at = timezone.now()
    pr.save()
    return pr
