"""A fake GitHub + Render + Sentry on loopback, serving the official example payloads.

A real HTTP server in a thread (``http.server``), so the clients are exercised
end to end: headers, ETag/304, rate-limit answers, 5xx, slow answers and
broken JSON. Variants of the official payloads change named fields only
(:mod:`providers.fake.payloads`).

Two ways to give it answers:

- routes, set by the tests and the benchmark: ``fake.json(path, data)``, keyed
  by method and path (the query is ignored), plus the scenario builders below;
- a ``world`` (:class:`providers.fake.world.DemoWorld`), the stateful simulation
  ``runportal`` serves for the demo, asked whenever no route matches.

Every request is recorded (method, path, query, headers, body, status).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from providers.fake import payloads

if TYPE_CHECKING:
    from providers.fake.world import DemoWorld

# Kept here too for the tests and the benchmark, which import them from the server.
EXAMPLES = payloads.EXAMPLES
example = payloads.example

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
# Bodies larger than this are refused: nothing a provider client sends comes close.
MAX_BODY_BYTES = 1_048_576


@dataclass
class Route:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    etag: bool = True


# GitHub's answer once the primary limit is spent (its REST docs, "Exceeding the primary rate limit").
GITHUB_LIMIT_EXCEEDED = {
    "message": "API rate limit exceeded for user ID 1.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
}


@dataclass
class GitHubRateLimit:
    """The hourly window GitHub's ``x-ratelimit-*`` headers describe; a new one starts at ``reset``."""

    limit: int = 5000
    remaining: int = 5000
    reset: int = field(default_factory=lambda: int(time.time()) + 3600)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _roll(self) -> None:
        if time.time() >= self.reset:
            self.remaining, self.reset = self.limit, int(time.time()) + 3600

    def exhausted(self) -> bool:
        with self.lock:
            self._roll()
            return self.remaining <= 0

    def spend(self, *, counted: bool) -> dict[str, str]:
        """Count one answer (a 304 is free) and return the headers it carries."""
        with self.lock:
            self._roll()
            if counted and self.remaining > 0:
                self.remaining -= 1
            return {
                "x-ratelimit-limit": str(self.limit),
                "x-ratelimit-remaining": str(self.remaining),
                "x-ratelimit-used": str(self.limit - self.remaining),
                "x-ratelimit-reset": str(self.reset),
                "x-ratelimit-resource": "core",
            }


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    status: int
    body: bytes = b""

    def json(self) -> Any:
        """The request body as JSON (POST/PATCH)."""
        return json.loads(self.body)


class FakeProviders:
    """Routes by method and path (query ignored), then the world; anything else answers 404 like the real APIs."""

    def __init__(self, *, world: DemoWorld | None = None, port: int = 0) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.seen: list[Seen] = []
        self.world = world
        self.lock = threading.Lock()
        # GitHub's primary limit as its headers show it: every /github answer carries
        # x-ratelimit-*, every one but a 304 uses one request, and at 0 it refuses with 403.
        self.github_limit = GitHubRateLimit()
        self.in_flight = 0
        self.max_in_flight = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._answer(self, "GET")

            def do_POST(self) -> None:
                fake._answer(self, "POST")

            def do_PATCH(self) -> None:
                fake._answer(self, "PATCH")

            def do_PUT(self) -> None:
                fake._answer(self, "PUT")

            def do_DELETE(self) -> None:
                fake._answer(self, "DELETE")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> FakeProviders:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    @property
    def github_url(self) -> str:
        return f"{self.url}/github"

    @property
    def render_url(self) -> str:
        return f"{self.url}/render/v1"

    @property
    def sentry_url(self) -> str:
        return f"{self.url}/sentry"

    # -- routes ------------------------------------------------------------------

    def json(
        self, path: str, data: Any, *, status: int = 200, headers: dict | None = None, method: str = "GET", **kwargs
    ) -> None:
        self.raw(path, json.dumps(data), status=status, headers=headers, method=method, **kwargs)

    def raw(
        self, path: str, text: str, *, status: int = 200, headers: dict | None = None, method: str = "GET", **kwargs
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"The fake answers {', '.join(METHODS)}, not {method}.")
        with self.lock:
            self.routes[(method, path)] = Route(
                body=text.encode(),
                status=status,
                headers={"Content-Type": "application/json", **(headers or {})},
                **kwargs,
            )

    def requests_to(self, prefix: str, *, method: str | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path.startswith(prefix) and (method is None or s.method == method)]

    def counted(self, prefix: str = "/github") -> int:
        """Requests GitHub would count against the rate limit: everything but a 304."""
        return sum(1 for s in self.requests_to(prefix) if s.status != 304)

    def clear_seen(self) -> None:
        with self.lock:
            self.seen.clear()
            self.max_in_flight = self.in_flight

    def github_rate_limit(self, *, remaining: int, limit: int = 5000, reset_in: float = 3600) -> None:
        """Start a new window of GitHub's hourly limit with ``remaining`` requests left."""
        with self.lock:
            self.github_limit = GitHubRateLimit(limit=limit, remaining=remaining, reset=int(time.time() + reset_in))

    def _read_body(self, handler: BaseHTTPRequestHandler) -> bytes | None:
        try:
            length = int(handler.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY_BYTES:
            return None
        return handler.rfile.read(length) if length else b""

    def _route_answer(self, method: str, path: str, query: str, body: bytes) -> Route | None:
        with self.lock:
            route = self.routes.get((method, path))
        if route is not None or self.world is None:
            return route
        answer = self.world.answer(method, path, query, body)
        if answer is None:
            return None
        return Route(
            body=json.dumps(answer.data).encode(),
            status=answer.status,
            headers={"Content-Type": "application/json", **answer.headers},
            etag=answer.etag,
        )

    def _answer(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._answer_one(handler, method)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _answer_one(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        body = self._read_body(handler)
        route: Route | None
        github = parts.path.startswith("/github/")
        if body is None:
            route = Route(body=b'{"message": "Problems parsing JSON"}', status=400, etag=False)
            body = b""
        elif github and self.github_limit.exhausted():
            route = Route(body=json.dumps(GITHUB_LIMIT_EXCEEDED).encode(), status=403, etag=False)
        else:
            route = self._route_answer(method, parts.path, parts.query, body)
        status = route.status if route else 404
        headers = dict(route.headers) if route else {"Content-Type": "application/json"}
        payload = route.body if route else b'{"message": "Not Found"}'
        if route and route.delay:
            time.sleep(route.delay)
        if route and route.etag and status == 200 and method == "GET":
            etag = '"' + hashlib.sha256(payload).hexdigest()[:32] + '"'
            headers["ETag"] = etag
            if handler.headers.get("If-None-Match") == etag:
                status, payload = 304, b""
        if github:
            # A route's own x-ratelimit-* headers (a test's scenario) win over the simulated ones.
            headers = {**self.github_limit.spend(counted=status != 304), **headers}
        with self.lock:
            self.seen.append(Seen(method, parts.path, parts.query, dict(handler.headers), status, body))
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    # -- GitHub scenario builders (official payloads, named fields changed) --------

    def github_pr(
        self,
        repo: str,
        number: int,
        *,
        head_sha: str,
        state: str = "open",
        merged_at: str | None = None,
        merge_commit_sha: str = "",
        committed_at: str = "2026-01-01T10:00:00Z",
        files: list[str] | None = None,
        created_at: str = "2026-01-01T09:00:00Z",
        commits: list[tuple[str, str]] | None = None,
    ) -> None:
        """The PR, its head commit, files, and (empty) checks, statuses and reviews.

        ``commits``: the PR's commits as (sha, committed_at), oldest first; default its head commit alone.
        """
        pull = payloads.github_pull(
            repo,
            number,
            head_sha=head_sha,
            state=state,
            merged_at=merged_at,
            merge_commit_sha=merge_commit_sha,
            created_at=created_at,
        )
        self.json(f"/github/repos/{repo}/pulls/{number}", pull)
        self.json(
            f"/github/repos/{repo}/pulls/{number}/commits",
            payloads.github_pull_commits(commits or [(head_sha, committed_at)]),
        )
        self.json(
            f"/github/repos/{repo}/commits/{head_sha}", payloads.github_commit(head_sha, committed_at=committed_at)
        )
        self.json(f"/github/repos/{repo}/pulls/{number}/files", payloads.github_files(files or []))
        self.github_checks(repo, head_sha, [])
        self.github_statuses(repo, head_sha, [])
        self.github_reviews(repo, number, [])
        self.github_review_comments(repo, number, [])

    def github_checks(self, repo: str, sha: str, runs: list[dict]) -> None:
        """``runs``: dicts of check-run fields to change, e.g. {"name": "pytest", "conclusion": "failure"}."""
        self.json(f"/github/repos/{repo}/commits/{sha}/check-runs", payloads.github_check_runs(sha, runs))

    def github_statuses(self, repo: str, sha: str, statuses: list[dict]) -> None:
        self.json(f"/github/repos/{repo}/commits/{sha}/status", payloads.github_combined_status(sha, statuses))

    def github_reviews(self, repo: str, number: int, reviews: list[dict]) -> None:
        self.json(f"/github/repos/{repo}/pulls/{number}/reviews", payloads.github_reviews(reviews))

    def github_review_comments(self, repo: str, number: int, comments: list[dict]) -> None:
        """``comments``: review-comment fields (and ``login``) to change, e.g. {"pull_request_review_id": 500}."""
        self.json(f"/github/repos/{repo}/pulls/{number}/comments", payloads.github_review_comments(comments))

    def github_compare(self, repo: str, base: str, head: str, status: str) -> None:
        self.json(f"/github/repos/{repo}/compare/{base}...{head}", payloads.github_comparison(status))

    # -- Render and Sentry ---------------------------------------------------------

    def render_deploys(self, service_id: str, deploys: list[dict]) -> None:
        """``deploys``: changes to the official list's first (git) deploy, newest first."""
        items = []
        for changes in deploys:
            changes = dict(changes)
            commit_id = changes.pop("commit_id", None)
            items.append(payloads.render_deploy(changes, commit_id=commit_id))
        self.json(f"/render/v1/services/{service_id}/deploys", payloads.render_deploys(items), etag=False)

    def sentry_issues(self, organization: str, issues: list[dict]) -> None:
        items = []
        for index, changes in enumerate(issues):
            changes = dict(changes)
            project = changes.pop("project_slug", None)
            items.append(payloads.sentry_issue({"id": str(100 + index), **changes}, project_slug=project))
        self.json(f"/sentry/api/0/organizations/{organization}/issues/", items, etag=False)
