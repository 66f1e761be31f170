"""A small simulated world behind the fake providers, for the demo.

It models just enough for every readiness gate to move:

- GitHub repositories: a linear ``main`` history, pull requests (head commit,
  check runs by name, commit statuses, reviews, comments, merged or not, the
  files a merge changed, the merge commit), and ``compare`` answered from the
  history, so a deploy "contains" the PRs merged before it;
- Render services and their deploys (status, the commit deployed);
- Sentry issues per organisation (first seen, resolved or not);
- outages: a provider that answers 503 to everything, which makes gates stale.

Any pull request number of a known repository exists when asked for (open, a
head commit derived from its number, nothing reported yet), so any
``https://github.com/<repo>/pull/N`` can be linked in the demo.

:class:`~providers.fake.server.FakeProviders` serves it in the official payload
shapes (:mod:`providers.fake.payloads`). The state is saved as JSON after every
change when a ``path`` is given, so restarting the server keeps it. This module
is a leaf: no Django, no database.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from providers.fake import payloads

GITHUB, RENDER, SENTRY = "github", "render", "sentry"
PROVIDERS = (GITHUB, RENDER, SENTRY)
STATE_VERSION = 1

CHECK_CONCLUSIONS = frozenset(
    {"success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required", "stale"}
)
STATUS_STATES = frozenset({"error", "failure", "pending", "success"})
REVIEW_STATES = frozenset({"APPROVED", "CHANGES_REQUESTED", "COMMENTED"})
DEPLOY_STATUSES = frozenset(
    {
        "created",
        "queued",
        "build_in_progress",
        "update_in_progress",
        "pre_deploy_in_progress",
        "live",
        "deactivated",
        "build_failed",
        "update_failed",
        "pre_deploy_failed",
        "canceled",
    }
)


@dataclass
class Answer:
    """What a world answers: a status and a JSON-able body."""

    status: int
    data: Any
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True


class WorldError(Exception):
    """A change the simulated world refuses (a PR merged already, an unknown state…). ``str()`` is for people."""


class NotInWorld(WorldError):
    """The repository, commit, service or comment does not exist in the simulated world."""


def iso(moment: datetime) -> str:
    """GitHub's timestamps: whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_micro(moment: datetime) -> str:
    """Render's and Sentry's timestamps carry microseconds, so an issue raised right after a deploy is later."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 (a made-up commit id, not security)


# -- state ------------------------------------------------------------------------


@dataclass
class CheckRun:
    id: int
    name: str
    conclusion: str | None  # None while running
    started_at: str
    completed_at: str | None
    title: str = ""
    summary: str = ""


@dataclass
class Status:
    id: int
    context: str
    state: str
    description: str
    target_url: str
    created_at: str


@dataclass
class Review:
    id: int
    login: str
    state: str  # upper case, as the REST API sends it
    commit_id: str
    submitted_at: str
    body: str = ""


@dataclass
class Comment:
    id: int
    number: int
    login: str
    body: str
    created_at: str
    updated_at: str


@dataclass
class PullRequest:
    number: int
    head_sha: str
    opened_at: str
    title: str = ""
    state: str = "open"
    merged_at: str | None = None
    merge_commit_sha: str = ""
    files: list[str] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)

    @property
    def is_merged(self) -> bool:
        return self.merged_at is not None


@dataclass
class Repository:
    name: str  # owner/name as first written
    main: list[str] = field(default_factory=list)  # commit shas, oldest first
    commits: dict[str, str] = field(default_factory=dict)  # sha -> committed at
    pulls: dict[str, PullRequest] = field(default_factory=dict)  # str(number) -> PR (JSON keys are strings)
    check_runs: dict[str, list[CheckRun]] = field(default_factory=dict)  # sha -> newest run per name
    statuses: dict[str, list[Status]] = field(default_factory=dict)  # sha -> every status, oldest first
    comments: list[Comment] = field(default_factory=list)


@dataclass
class Deploy:
    id: str
    status: str
    commit_id: str
    commit_message: str
    created_at: str
    finished_at: str | None


@dataclass
class Service:
    id: str
    repository: str
    name: str = ""
    deploys: list[Deploy] = field(default_factory=list)  # newest first


@dataclass
class Issue:
    id: str
    short_id: str
    title: str
    project: str
    status: str  # unresolved, resolved
    first_seen: str
    last_seen: str
    count: int = 1


@dataclass
class State:
    repositories: dict[str, Repository] = field(default_factory=dict)  # lower-case owner/name -> repository
    services: dict[str, Service] = field(default_factory=dict)
    issues: dict[str, list[Issue]] = field(default_factory=dict)  # organisation -> issues
    projects: dict[str, list[str]] = field(default_factory=dict)  # organisation -> project slugs
    outages: list[str] = field(default_factory=list)
    next_id: int = 1
    port: int | None = None


def _state_from_json(data: dict) -> State:
    repositories = {}
    for key, repo in data.get("repositories", {}).items():
        pulls = {
            number: PullRequest(**{**pull, "reviews": [Review(**r) for r in pull.get("reviews", [])]})
            for number, pull in repo.get("pulls", {}).items()
        }
        repositories[key] = Repository(
            name=repo["name"],
            main=list(repo.get("main", [])),
            commits=dict(repo.get("commits", {})),
            pulls=pulls,
            check_runs={sha: [CheckRun(**r) for r in runs] for sha, runs in repo.get("check_runs", {}).items()},
            statuses={sha: [Status(**s) for s in items] for sha, items in repo.get("statuses", {}).items()},
            comments=[Comment(**c) for c in repo.get("comments", [])],
        )
    return State(
        repositories=repositories,
        services={
            key: Service(**{**svc, "deploys": [Deploy(**d) for d in svc.get("deploys", [])]})
            for key, svc in data.get("services", {}).items()
        },
        issues={org: [Issue(**i) for i in items] for org, items in data.get("issues", {}).items()},
        projects={org: list(slugs) for org, slugs in data.get("projects", {}).items()},
        outages=list(data.get("outages", [])),
        next_id=int(data.get("next_id", 1)),
        port=data.get("port"),
    )


# -- the world ----------------------------------------------------------------------

_REPO = r"(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)"
_GITHUB_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(rf"^/repos/{_REPO}/pulls/(?P<number>\d+)$"), "_get_pull"),
    ("GET", re.compile(rf"^/repos/{_REPO}/pulls/(?P<number>\d+)/files$"), "_get_files"),
    ("GET", re.compile(rf"^/repos/{_REPO}/pulls/(?P<number>\d+)/reviews$"), "_get_reviews"),
    ("GET", re.compile(rf"^/repos/{_REPO}/pulls/(?P<number>\d+)/comments$"), "_get_review_comments"),
    ("GET", re.compile(rf"^/repos/{_REPO}/pulls/(?P<number>\d+)/commits$"), "_get_pull_commits"),
    ("GET", re.compile(rf"^/repos/{_REPO}/commits/(?P<ref>[0-9a-f]{{7,40}})$"), "_get_commit"),
    ("GET", re.compile(rf"^/repos/{_REPO}/commits/(?P<ref>[^/]+)/check-runs$"), "_get_check_runs"),
    ("GET", re.compile(rf"^/repos/{_REPO}/commits/(?P<ref>[^/]+)/status$"), "_get_status"),
    ("GET", re.compile(rf"^/repos/{_REPO}/compare/(?P<base>[^/.]+)\.\.\.(?P<head>[^/.]+)$"), "_get_compare"),
    ("POST", re.compile(rf"^/repos/{_REPO}/statuses/(?P<ref>[0-9a-f]{{40}})$"), "_post_status"),
    ("GET", re.compile(rf"^/repos/{_REPO}/issues/(?P<number>\d+)/comments$"), "_get_comments"),
    ("POST", re.compile(rf"^/repos/{_REPO}/issues/(?P<number>\d+)/comments$"), "_post_comment"),
    ("PATCH", re.compile(rf"^/repos/{_REPO}/issues/comments/(?P<comment_id>\d+)$"), "_patch_comment"),
    ("GET", re.compile(r"^/rate_limit$"), "_get_rate_limit"),
]
_RENDER_ROUTES = [
    ("GET", re.compile(r"^/services/(?P<service>[^/]+)/deploys$"), "_get_deploys"),
    ("GET", re.compile(r"^/services/(?P<service>[^/]+)/deploys/(?P<deploy>[^/]+)$"), "_get_deploy"),
]
_SENTRY_ROUTES = [
    ("GET", re.compile(r"^/api/0/organizations/(?P<org>[^/]+)/issues/$"), "_get_issues"),
]
# Where each provider lives on the fake server (FakeProviders.github_url etc.).
_PREFIXES = (
    (GITHUB, "/github", _GITHUB_ROUTES),
    (RENDER, "/render/v1", _RENDER_ROUTES),
    (SENTRY, "/sentry", _SENTRY_ROUTES),
)

NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}


class DemoWorld:
    """The simulated providers' state. Thread-safe: the fake server's threads read while the demo changes it."""

    def __init__(self, *, path: Path | str | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self.path = Path(path) if path else None
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.state = State()

    # -- persistence ---------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | str, *, clock: Callable[[], datetime] | None = None) -> DemoWorld:
        """The world saved at ``path``, or an empty one when there is no file yet."""
        world = cls(path=path, clock=clock)
        if world.path is not None and world.path.exists():
            try:
                data = json.loads(world.path.read_text())
                if data.get("version") != STATE_VERSION:
                    raise ValueError(f"version {data.get('version')!r}, expected {STATE_VERSION}")
                world.state = _state_from_json(data)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise WorldError(
                    f"{world.path} is not a saved demo world ({exc}); delete it to start the simulation afresh."
                ) from exc
        return world

    def save(self) -> None:
        if self.path is None:
            return
        with self.lock:
            text = json.dumps({"version": STATE_VERSION, **asdict(self.state)}, indent=1, sort_keys=True)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a crash mid-write never leaves half a file behind.
            temporary = self.path.with_name(self.path.name + ".tmp")
            temporary.write_text(text)
            os.replace(temporary, self.path)

    def _changed(self) -> None:
        self.save()

    def _next_id(self) -> int:
        self.state.next_id += 1
        return self.state.next_id - 1

    def now(self) -> str:
        return iso(self.clock())

    def now_micro(self) -> str:
        return iso_micro(self.clock())

    # -- setting the world up ----------------------------------------------------------

    def add_repository(self, name: str) -> None:
        with self.lock:
            key = name.lower()
            if key not in self.state.repositories:
                root = _sha(f"{key}@main/0")
                self.state.repositories[key] = Repository(name=name, main=[root], commits={root: self.now()})
                self._changed()

    def add_service(self, service_id: str, *, repository: str, name: str = "") -> None:
        with self.lock:
            self._repo(repository)
            if service_id not in self.state.services:
                self.state.services[service_id] = Service(id=service_id, repository=repository, name=name)
                self._changed()

    def add_sentry_project(self, organization: str, project: str) -> None:
        with self.lock:
            projects = self.state.projects.setdefault(organization, [])
            if project not in projects:
                projects.append(project)
                self.state.issues.setdefault(organization, [])
                self._changed()

    def remember_port(self, port: int) -> None:
        """Note the port the world is served on, so a restart can serve it at the same address."""
        with self.lock:
            if self.state.port != port:
                self.state.port = port
                self._changed()

    # -- reading -------------------------------------------------------------------------

    def _repo(self, name: str) -> Repository:
        repo = self.state.repositories.get(name.lower())
        if repo is None:
            raise NotInWorld(f"The simulated GitHub has no repository {name}.")
        return repo

    def head_sha_for(self, repository: str, number: int, version: int = 0) -> str:
        return _sha(f"{repository.lower()}#{number}/{version}")

    def pull(self, repository: str, number: int) -> PullRequest:
        """The pull request ``number``; any number exists (opened when first asked for)."""
        with self.lock:
            repo = self._repo(repository)
            pull = repo.pulls.get(str(number))
            if pull is None:
                now = self.now()
                sha = self.head_sha_for(repository, number)
                pull = PullRequest(number=number, head_sha=sha, opened_at=now, title=f"Pull request #{number}")
                repo.pulls[str(number)] = pull
                repo.commits.setdefault(sha, now)
                # Not saved: an untouched PR is the same whenever it is re-created.
            return pull

    def check_runs(self, repository: str, sha: str) -> list[CheckRun]:
        with self.lock:
            return list(self._repo(repository).check_runs.get(sha, []))

    def statuses(self, repository: str, sha: str) -> list[Status]:
        with self.lock:
            return list(self._repo(repository).statuses.get(sha, []))

    def service(self, service_id: str) -> Service:
        with self.lock:
            service = self.state.services.get(service_id)
            if service is None:
                raise NotInWorld(f"The simulated Render has no service {service_id}.")
            return service

    def issues(self, organization: str) -> list[Issue]:
        with self.lock:
            return list(self.state.issues.get(organization, []))

    def is_down(self, provider: str) -> bool:
        return provider in self.state.outages

    # -- changing ------------------------------------------------------------------------

    def report_check(
        self, repository: str, number: int, *, name: str, conclusion: str | None, title: str = "", summary: str = ""
    ) -> CheckRun:
        """A check run ``name`` on the PR's head commit finished with ``conclusion`` (None: still running).

        It replaces an earlier run of the same name on that commit, as GitHub's
        ``filter=latest`` shows only the newest.
        """
        if conclusion is not None and conclusion not in CHECK_CONCLUSIONS:
            raise WorldError(f"A check run cannot conclude “{conclusion}”.")
        with self.lock:
            pull = self.pull(repository, number)
            now = self.now()
            run = CheckRun(
                id=self._next_id(),
                name=name,
                conclusion=conclusion,
                started_at=now,
                completed_at=now if conclusion is not None else None,
                title=title,
                summary=summary,
            )
            runs = self._repo(repository).check_runs.setdefault(pull.head_sha, [])
            runs[:] = [r for r in runs if r.name != name] + [run]
            self._changed()
            return run

    def set_status(
        self, repository: str, sha: str, *, context: str, state: str, description: str = "", target_url: str = ""
    ) -> Status:
        if state not in STATUS_STATES:
            raise WorldError(f"A commit status cannot be “{state}”; use error, failure, pending or success.")
        with self.lock:
            repo = self._repo(repository)
            if sha not in repo.commits:
                raise NotInWorld(f"{repository} has no commit {sha}.")
            status = Status(
                id=self._next_id(),
                context=context,
                state=state,
                description=description,
                target_url=target_url,
                created_at=self.now(),
            )
            repo.statuses.setdefault(sha, []).append(status)
            self._changed()
            return status

    def submit_review(self, repository: str, number: int, *, login: str, state: str, body: str = "") -> Review:
        """A review on the PR's head commit; ``state`` APPROVED, CHANGES_REQUESTED or COMMENTED."""
        state = state.upper()
        if state not in REVIEW_STATES:
            raise WorldError(f"A review cannot be “{state}”.")
        with self.lock:
            pull = self.pull(repository, number)
            review = Review(
                id=self._next_id(),
                login=login,
                state=state,
                commit_id=pull.head_sha,
                submitted_at=self.now(),
                body=body,
            )
            pull.reviews.append(review)
            self._changed()
            return review

    def merge(self, repository: str, number: int, *, files: list[str] | None = None) -> PullRequest:
        """Merge the PR into ``main``: a merge commit on top of the history, the PR closed and merged."""
        with self.lock:
            pull = self.pull(repository, number)
            if pull.is_merged:
                raise WorldError(f"{repository}#{number} is merged already.")
            if pull.state != "open":
                raise WorldError(f"{repository}#{number} is closed.")
            repo = self._repo(repository)
            now = self.now()
            sha = _sha(f"{repository.lower()}#{number}/merge/{pull.head_sha}")
            repo.main.append(sha)
            repo.commits[sha] = now
            pull.state = "closed"
            pull.merged_at = now
            pull.merge_commit_sha = sha
            if files is not None:
                pull.files = list(files)
            self._changed()
            return pull

    def comment(self, repository: str, number: int, *, body: str, login: str = "gatehouse") -> Comment:
        with self.lock:
            self.pull(repository, number)
            now = self.now()
            comment = Comment(id=self._next_id(), number=number, login=login, body=body, created_at=now, updated_at=now)
            self._repo(repository).comments.append(comment)
            self._changed()
            return comment

    def edit_comment(self, repository: str, comment_id: int, *, body: str) -> Comment:
        with self.lock:
            for comment in self._repo(repository).comments:
                if comment.id == comment_id:
                    comment.body = body
                    comment.updated_at = self.now()
                    self._changed()
                    return comment
            raise NotInWorld(f"{repository} has no comment {comment_id}.")

    def deploy(self, service_id: str, *, status: str = "live") -> Deploy:
        """Deploy the head of ``main`` of the service's repository; ``status`` is where the deploy ended."""
        if status not in DEPLOY_STATUSES:
            raise WorldError(f"A Render deploy cannot be “{status}”.")
        with self.lock:
            service = self.service(service_id)
            repo = self._repo(service.repository)
            head = repo.main[-1]
            merged = next((p.number for p in repo.pulls.values() if p.merge_commit_sha == head), None)
            now = self.now_micro()
            finished = status in {
                "live",
                "deactivated",
                "build_failed",
                "update_failed",
                "pre_deploy_failed",
                "canceled",
            }
            deploy = Deploy(
                id=f"dep-demo{self._next_id():015d}",
                status=status,
                commit_id=head,
                commit_message=f"Merge pull request #{merged}" if merged else "Initial commit",
                created_at=now,
                finished_at=now if finished else None,
            )
            for earlier in service.deploys:
                if earlier.status == "live" and status == "live":
                    earlier.status = "deactivated"  # Render retires the previous live deploy
            service.deploys.insert(0, deploy)
            self._changed()
            return deploy

    def raise_issue(self, organization: str, project: str, *, title: str) -> Issue:
        with self.lock:
            if project not in self.state.projects.get(organization, []):
                raise NotInWorld(f"The simulated Sentry has no project {organization}/{project}.")
            now = self.now_micro()
            number = sum(1 for i in self.state.issues.get(organization, []) if i.project == project) + 1
            issue = Issue(
                id=str(self._next_id()),
                short_id=f"{project.upper()}-{number}",
                title=title,
                project=project,
                status="unresolved",
                first_seen=now,
                last_seen=now,
            )
            self.state.issues.setdefault(organization, []).append(issue)
            self._changed()
            return issue

    def resolve_issues(self, organization: str, project: str | None = None) -> int:
        """Resolve every unresolved issue (of ``project``); returns how many."""
        with self.lock:
            resolved = 0
            for issue in self.state.issues.get(organization, []):
                if issue.status == "unresolved" and (project is None or issue.project == project):
                    issue.status = "resolved"
                    resolved += 1
            if resolved:
                self._changed()
            return resolved

    def set_outage(self, provider: str, down: bool) -> None:
        """``provider`` (github, render or sentry) answers 503 to everything while down."""
        if provider not in PROVIDERS:
            raise WorldError(f"Unknown provider “{provider}”.")
        with self.lock:
            if down and provider not in self.state.outages:
                self.state.outages.append(provider)
                self._changed()
            elif not down and provider in self.state.outages:
                self.state.outages.remove(provider)
                self._changed()

    # -- answering HTTP ---------------------------------------------------------------------

    def answer(self, method: str, path: str, query: str, body: bytes) -> Answer | None:
        """The fake server's answer for a request no fixed route matched; None for an unknown path."""
        for provider, prefix, routes in _PREFIXES:
            if not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) :]
            if self.is_down(provider):
                return Answer(503, {"message": f"The simulated {provider} is down (an outage in the demo)."})
            for route_method, pattern, handler in routes:
                match = pattern.match(rest)
                if match and route_method == method:
                    with self.lock:
                        try:
                            return getattr(self, handler)(query=parse_qs(query), body=body, **match.groupdict())
                        except NotInWorld as exc:
                            return Answer(404, {"message": str(exc)})
                        except (WorldError, ValueError, TypeError, KeyError) as exc:
                            return Answer(422, {"message": f"Validation Failed: {exc}"})
            return None
        return None

    # GitHub

    def _get_pull(self, *, repo: str, number: str, **_) -> Answer:
        pull = self.pull(repo, int(number))
        data = payloads.github_pull(
            self._repo(repo).name,
            pull.number,
            head_sha=pull.head_sha,
            state=pull.state,
            merged_at=pull.merged_at,
            merge_commit_sha=pull.merge_commit_sha,
            title=pull.title,
            created_at=pull.opened_at,
        )
        return Answer(200, data)

    def _get_review_comments(self, *, repo: str, number: str, **_) -> Answer:
        # The simulated reviewer writes its verdict in the review, never on a diff line.
        self.pull(repo, int(number))
        return Answer(200, payloads.github_review_comments([]))

    def _get_pull_commits(self, *, repo: str, number: str, **_) -> Answer:
        pull = self.pull(repo, int(number))
        commits = self._repo(repo).commits
        return Answer(200, payloads.github_pull_commits([(pull.head_sha, commits.get(pull.head_sha, pull.opened_at))]))

    def _get_files(self, *, repo: str, number: str, **_) -> Answer:
        return Answer(200, payloads.github_files(self.pull(repo, int(number)).files))

    def _get_reviews(self, *, repo: str, number: str, **_) -> Answer:
        name = self._repo(repo).name
        pull = self.pull(repo, int(number))
        reviews = [
            {
                "id": r.id,
                "login": r.login,
                "state": r.state,
                "commit_id": r.commit_id,
                "submitted_at": r.submitted_at,
                "body": r.body,
                "html_url": f"https://github.com/{name}/pull/{pull.number}#pullrequestreview-{r.id}",
            }
            for r in pull.reviews
        ]
        return Answer(200, payloads.github_reviews(reviews))

    def _get_commit(self, *, repo: str, ref: str, **_) -> Answer:
        commits = self._repo(repo).commits
        sha = next((s for s in commits if s.startswith(ref)), None)
        if sha is None:
            return Answer(422, {"message": f"No commit found for SHA: {ref}"})
        return Answer(200, payloads.github_commit(sha, committed_at=commits[sha]))

    def _get_check_runs(self, *, repo: str, ref: str, **_) -> Answer:
        name = self._repo(repo).name
        runs = [
            {
                "id": run.id,
                "name": run.name,
                "status": "completed" if run.conclusion is not None else "in_progress",
                "conclusion": run.conclusion,
                "started_at": run.started_at,
                "completed_at": run.completed_at,
                "html_url": f"https://github.com/{name}/runs/{run.id}",
                "output": {"title": run.title or None, "summary": run.summary or None, "text": None},
            }
            for run in self.check_runs(repo, ref)
        ]
        return Answer(200, payloads.github_check_runs(ref, runs))

    def _get_status(self, *, repo: str, ref: str, **_) -> Answer:
        latest: dict[str, Status] = {}
        for status in self.statuses(repo, ref):
            latest[status.context] = status  # the combined status shows the newest per context
        items = [self._status_fields(repo, ref, s) for s in latest.values()]
        return Answer(200, payloads.github_combined_status(ref, items))

    def _status_fields(self, repo: str, sha: str, status: Status) -> dict:
        return {
            "id": status.id,
            "url": f"https://api.github.com/repos/{self._repo(repo).name}/statuses/{sha}",
            "state": status.state,
            "description": status.description or None,
            "target_url": status.target_url or None,
            "context": status.context,
            "created_at": status.created_at,
            "updated_at": status.created_at,
        }

    def _get_compare(self, *, repo: str, base: str, head: str, **_) -> Answer:
        history = self._repo(repo)
        main = history.main

        def find(ref: str) -> str | None:
            return next((s for s in history.commits if s.startswith(ref)), None)

        base_sha, head_sha = find(base), find(head)
        if base_sha is None or head_sha is None:
            return Answer(404, NOT_FOUND)
        if base_sha in main and head_sha in main:
            distance = main.index(head_sha) - main.index(base_sha)
            if distance == 0:
                return Answer(200, payloads.github_comparison("identical"))
            if distance > 0:
                return Answer(200, payloads.github_comparison("ahead", ahead_by=distance, behind_by=0))
            return Answer(200, payloads.github_comparison("behind", ahead_by=0, behind_by=-distance))
        # A PR head is a branch off main: neither contains the other.
        return Answer(200, payloads.github_comparison("diverged"))

    def _post_status(self, *, repo: str, ref: str, body: bytes, **_) -> Answer:
        data = json.loads(body or b"{}")
        status = self.set_status(
            repo,
            ref,
            context=str(data.get("context") or "default"),
            state=str(data["state"]),
            description=str(data.get("description") or ""),
            target_url=str(data.get("target_url") or ""),
        )
        return Answer(201, payloads.github_status(self._status_fields(repo, ref, status)), etag=False)

    def _comment_data(self, repo: str, comment: Comment) -> dict:
        return payloads.github_comment(
            self._repo(repo).name,
            comment.number,
            comment_id=comment.id,
            body=comment.body,
            login=comment.login,
            at=comment.updated_at,
        )

    def _get_comments(self, *, repo: str, number: str, **_) -> Answer:
        comments = [c for c in self._repo(repo).comments if c.number == int(number)]
        return Answer(200, [self._comment_data(repo, c) for c in comments])

    def _post_comment(self, *, repo: str, number: str, body: bytes, **_) -> Answer:
        data = json.loads(body or b"{}")
        comment = self.comment(repo, int(number), body=str(data["body"]))
        return Answer(201, self._comment_data(repo, comment), etag=False)

    def _patch_comment(self, *, repo: str, comment_id: str, body: bytes, **_) -> Answer:
        data = json.loads(body or b"{}")
        comment = self.edit_comment(repo, int(comment_id), body=str(data["body"]))
        return Answer(200, self._comment_data(repo, comment), etag=False)

    def _get_rate_limit(self, **_) -> Answer:
        return Answer(200, payloads.example("github/rate_limit_get.json"))

    # Render

    def _deploy_data(self, deploy: Deploy) -> dict:
        return payloads.render_deploy(
            {
                "id": deploy.id,
                "status": deploy.status,
                "trigger": "api",
                "createdAt": deploy.created_at,
                "updatedAt": deploy.finished_at or deploy.created_at,
                "startedAt": deploy.created_at,
                "finishedAt": deploy.finished_at,
            },
            commit_id=deploy.commit_id,
            commit_message=deploy.commit_message,
        )

    def _get_deploys(self, *, service: str, query: dict[str, list[str]], **_) -> Answer:
        limit = int((query.get("limit") or ["20"])[0])
        deploys = self.service(service).deploys[: max(1, min(limit, 100))]
        return Answer(200, payloads.render_deploys([self._deploy_data(d) for d in deploys]), etag=False)

    def _get_deploy(self, *, service: str, deploy: str, **_) -> Answer:
        found = next((d for d in self.service(service).deploys if d.id == deploy), None)
        if found is None:
            return Answer(404, {"id": "not-found", "message": "deploy not found"})
        return Answer(200, self._deploy_data(found), etag=False)

    # Sentry

    def _get_issues(self, *, org: str, query: dict[str, list[str]], **_) -> Answer:
        if org not in self.state.projects:
            return Answer(404, {"detail": "The requested resource does not exist"})
        search = (query.get("query") or ["is:unresolved"])[0]
        items = []
        for issue in self.issues(org):
            if "is:unresolved" in search and issue.status != "unresolved":
                continue
            items.append(
                payloads.sentry_issue(
                    {
                        "id": issue.id,
                        "shortId": issue.short_id,
                        "title": issue.title,
                        "culprit": issue.title,
                        "metadata": {"title": issue.title},
                        "status": issue.status,
                        "firstSeen": issue.first_seen,
                        "lastSeen": issue.last_seen,
                        "count": str(issue.count),
                        "userCount": 1,
                        "permalink": f"https://sentry.io/organizations/{org}/issues/{issue.id}/",
                    },
                    project_slug=issue.project,
                )
            )
        return Answer(200, items, etag=False)

    # -- a summary for people ----------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Counts for a one-line summary (the demo page's header, logs)."""
        with self.lock:
            return {
                "repositories": [r.name for r in self.state.repositories.values()],
                "services": list(self.state.services),
                "organizations": list(self.state.projects),
                "outages": list(self.state.outages),
            }
