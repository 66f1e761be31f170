"""GitHub REST client: pull requests, check runs, commit statuses, reviews, files, commits, comments.

Given a :class:`~providers.http.ConditionalStore`, every GET is conditional
(ETag), so polling an unchanged repository costs no rate limit: GitHub does
not count a 304 against the primary limit. It also writes what a release
portal reports back: commit statuses and PR comments.

Signed webhook deliveries are read by :mod:`providers.github_webhooks`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from providers._parse import parse_each, parse_one, parse_time
from providers.http import ConditionalStore, HttpClient, MalformedResponse, RateLimitLedger

PROVIDER = "GitHub"

STATUS_STATES = frozenset({"error", "failure", "pending", "success"})
# GitHub answers 422 "description is too long (maximum is 140 characters)"; the
# limit is not in the REST reference, only in the error.
STATUS_DESCRIPTION_MAX = 140


@dataclass(frozen=True)
class PullRequest:
    number: int
    state: str
    draft: bool
    merged_at: datetime | None
    merge_commit_sha: str
    head_sha: str
    html_url: str
    created_at: datetime | None = None  # when the PR was opened (kept across a close and reopen)

    @classmethod
    def from_json(cls, data: dict) -> PullRequest:
        return cls(
            number=int(data["number"]),
            state=str(data["state"]),
            draft=bool(data.get("draft") or False),
            merged_at=parse_time(data.get("merged_at")),
            merge_commit_sha=data.get("merge_commit_sha") or "",
            head_sha=str(data["head"]["sha"]),
            html_url=data.get("html_url") or "",
            created_at=parse_time(data.get("created_at")),
        )


@dataclass(frozen=True)
class CheckRun:
    id: int
    name: str
    status: str  # queued, in_progress, completed (also waiting/requested/pending)
    conclusion: str | None  # success, failure, neutral, cancelled, skipped, timed_out, action_required, stale
    head_sha: str
    html_url: str
    started_at: datetime | None
    completed_at: datetime | None
    output_title: str
    output_summary: str
    output_text: str

    @classmethod
    def from_json(cls, data: dict) -> CheckRun:
        output = data.get("output") or {}
        return cls(
            id=int(data["id"]),
            name=str(data["name"]),
            status=str(data["status"]),
            conclusion=data.get("conclusion"),
            head_sha=str(data["head_sha"]),
            html_url=data.get("html_url") or "",
            started_at=parse_time(data.get("started_at")),
            completed_at=parse_time(data.get("completed_at")),
            output_title=output.get("title") or "",
            output_summary=output.get("summary") or "",
            output_text=output.get("text") or "",
        )


@dataclass(frozen=True)
class CommitStatus:
    context: str
    state: str  # error, failure, pending, success
    description: str
    target_url: str
    updated_at: datetime | None

    @classmethod
    def from_json(cls, data: dict) -> CommitStatus:
        return cls(
            context=str(data["context"]),
            state=str(data["state"]),
            description=data.get("description") or "",
            target_url=data.get("target_url") or "",
            updated_at=parse_time(data.get("updated_at")),
        )


@dataclass(frozen=True)
class IssueComment:
    """A comment on an issue or pull request's conversation (not a review comment on a diff line)."""

    id: int
    body: str
    user_login: str
    html_url: str
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_json(cls, data: dict) -> IssueComment:
        user = data.get("user") or {}
        return cls(
            id=int(data["id"]),
            body=data.get("body") or "",
            user_login=user.get("login") or "",
            html_url=data.get("html_url") or "",
            created_at=parse_time(data.get("created_at")),
            updated_at=parse_time(data.get("updated_at")),
        )


@dataclass(frozen=True)
class Review:
    id: int
    user_login: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING (upper case in the REST API)
    commit_id: str
    submitted_at: datetime | None
    html_url: str
    body: str

    @classmethod
    def from_json(cls, data: dict) -> Review:
        user = data.get("user") or {}
        return cls(
            id=int(data["id"]),
            user_login=user.get("login") or "",
            # Webhooks send the state lower case, the REST API upper case.
            state=str(data["state"]).upper(),
            commit_id=data.get("commit_id") or "",
            submitted_at=parse_time(data.get("submitted_at")),
            html_url=data.get("html_url") or "",
            body=data.get("body") or "",
        )


@dataclass(frozen=True)
class ReviewComment:
    """A review comment on a line of a pull request's diff, posted as part of review ``review_id``."""

    id: int
    review_id: int | None
    user_login: str
    body: str
    path: str
    created_at: datetime | None
    html_url: str

    @classmethod
    def from_json(cls, data: dict) -> ReviewComment:
        user = data.get("user") or {}
        review_id = data.get("pull_request_review_id")
        return cls(
            id=int(data["id"]),
            review_id=int(review_id) if review_id is not None else None,
            user_login=user.get("login") or "",
            body=data.get("body") or "",
            path=data.get("path") or "",
            created_at=parse_time(data.get("created_at")),
            html_url=data.get("html_url") or "",
        )


@dataclass(frozen=True)
class PullRequestFile:
    filename: str
    status: str
    previous_filename: str

    @classmethod
    def from_json(cls, data: dict) -> PullRequestFile:
        return cls(
            filename=str(data["filename"]),
            status=str(data.get("status") or ""),
            previous_filename=data.get("previous_filename") or "",
        )


@dataclass(frozen=True)
class Commit:
    sha: str
    committed_at: datetime | None

    @classmethod
    def from_json(cls, data: dict) -> Commit:
        commit = data["commit"]
        committer = commit.get("committer") or {}
        author = commit.get("author") or {}
        return cls(sha=str(data["sha"]), committed_at=parse_time(committer.get("date") or author.get("date")))


@dataclass(frozen=True)
class Comparison:
    status: str  # ahead, behind, identical, diverged
    ahead_by: int
    behind_by: int

    @classmethod
    def from_json(cls, data: dict) -> Comparison:
        return cls(status=str(data["status"]), ahead_by=int(data["ahead_by"]), behind_by=int(data["behind_by"]))

    @property
    def head_contains_base(self) -> bool:
        """``compare/base...head``: head has every commit of base."""
        return self.status in ("ahead", "identical")


class GitHubClient:
    """One client per sync pass; close it (or use ``with``) when done.

    ``store`` keeps the ETags and last bodies of GETs; without one nothing is conditional.
    ``ledger`` hears the ``x-ratelimit-*`` headers of every answer (the poller paces itself on them).
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        store: ConditionalStore | None = None,
        ledger: RateLimitLedger | None = None,
    ) -> None:
        token = token if token is not None else settings.GITHUB_TOKEN
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = HttpClient(
            provider=PROVIDER,
            base_url=base_url or settings.GITHUB_API_URL,
            headers=headers,
            timeout=timeout,
            store=store,
            ledger=ledger,
        )

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def get_pull(self, repo: str, number: int) -> PullRequest:
        data = self.http.get_json(f"repos/{repo}/pulls/{number}")
        return parse_one(PROVIDER, "a pull request", data, PullRequest.from_json)

    def _list[T](
        self, path: str, what: str, parse: Callable[[dict], T], *, field: str = "", max_pages: int = 10
    ) -> list[T]:
        """Every item of a paginated list endpoint; ``field`` names the list inside a wrapper object."""
        items: list[T] = []
        for page in self.http.get_all(path, {"per_page": 100}, max_pages=max_pages):
            entries = _field(page, field, what) if field else page
            items.extend(parse_each(PROVIDER, what, entries, parse))
        return items

    def list_check_runs(self, repo: str, ref: str) -> list[CheckRun]:
        # filter=latest (GitHub's default) keeps only the newest run of each name.
        path = f"repos/{repo}/commits/{ref}/check-runs"
        return self._list(path, "check runs", CheckRun.from_json, field="check_runs")

    def list_statuses(self, repo: str, ref: str) -> list[CommitStatus]:
        """The latest status per context (the combined-status endpoint already de-duplicates)."""
        path = f"repos/{repo}/commits/{ref}/status"
        return self._list(path, "commit statuses", CommitStatus.from_json, field="statuses")

    def list_reviews(self, repo: str, number: int) -> list[Review]:
        return self._list(f"repos/{repo}/pulls/{number}/reviews", "reviews", Review.from_json)

    def list_pull_files(self, repo: str, number: int) -> list[PullRequestFile]:
        path = f"repos/{repo}/pulls/{number}/files"
        return self._list(path, "pull request files", PullRequestFile.from_json, max_pages=30)

    def list_review_comments(self, repo: str, number: int) -> list[ReviewComment]:
        """Every review comment on the diff of PR ``number`` (each names the review it belongs to)."""
        path = f"repos/{repo}/pulls/{number}/comments"
        return self._list(path, "review comments", ReviewComment.from_json, max_pages=30)

    def list_pull_commits(self, repo: str, number: int) -> list[Commit]:
        """The commits of PR ``number``, oldest first (GitHub lists at most 250)."""
        path = f"repos/{repo}/pulls/{number}/commits"
        return self._list(path, "pull request commits", Commit.from_json, max_pages=3)

    def get_commit(self, repo: str, sha: str) -> Commit:
        data = self.http.get_json(f"repos/{repo}/commits/{sha}")
        return parse_one(PROVIDER, "a commit", data, Commit.from_json)

    def compare(self, repo: str, base: str, head: str) -> Comparison:
        data = self.http.get_json(f"repos/{repo}/compare/{base}...{head}", {"per_page": 1})
        return parse_one(PROVIDER, "a comparison", data, Comparison.from_json)

    # -- comments ------------------------------------------------------------------

    def list_issue_comments(self, repo: str, number: int) -> list[IssueComment]:
        """Every comment on issue or PR ``number``, oldest first (to find the one carrying a hidden marker)."""
        path = f"repos/{repo}/issues/{number}/comments"
        return self._list(path, "issue comments", IssueComment.from_json, max_pages=30)

    def create_issue_comment(self, repo: str, number: int, body: str) -> IssueComment:
        """Comment on issue or PR ``number``. Not retried on an unclear failure: look for it before posting again."""
        data = self.http.post_json(f"repos/{repo}/issues/{number}/comments", {"body": body})
        return parse_one(PROVIDER, "the new comment", data, IssueComment.from_json)

    def update_issue_comment(self, repo: str, comment_id: int, body: str) -> IssueComment:
        """Replace the body of comment ``comment_id`` (comment ids are unique per repository)."""
        data = self.http.patch_json(f"repos/{repo}/issues/comments/{comment_id}", {"body": body})
        return parse_one(PROVIDER, "the edited comment", data, IssueComment.from_json)

    # -- commit statuses -----------------------------------------------------------

    def create_commit_status(
        self, repo: str, sha: str, *, state: str, context: str, description: str = "", target_url: str = ""
    ) -> CommitStatus:
        """Set ``context``'s status on commit ``sha``; the newest status per context is the one that counts.

        Posting the same status twice is harmless (it only repeats the latest),
        but GitHub keeps at most 1000 statuses per sha and context.
        """
        if state not in STATUS_STATES:
            raise ValueError(f"A commit status is one of {', '.join(sorted(STATUS_STATES))}, not “{state}”.")
        if len(description) > STATUS_DESCRIPTION_MAX:
            description = description[: STATUS_DESCRIPTION_MAX - 1] + "…"
        payload = {"state": state, "context": context, "description": description, "target_url": target_url or None}
        data = self.http.post_json(f"repos/{repo}/statuses/{sha}", payload)
        return parse_one(PROVIDER, "the new commit status", data, CommitStatus.from_json)


def _field(page: Any, name: str, what: str) -> Any:
    if not isinstance(page, dict) or name not in page:
        raise MalformedResponse(f"{PROVIDER} sent {what} without “{name}”.", provider=PROVIDER)
    return page[name]
