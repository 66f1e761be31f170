"""A fake GitHub + Render + Sentry on loopback, serving the official example payloads.

A real HTTP server in a thread (``http.server``), so the clients are exercised
end to end: headers, ETag/304, rate-limit answers, 5xx, slow answers and
broken JSON. Variants of the official payloads change named fields only.
Used by the contract tests and by ``bench/gate_sync.py``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "api-examples"

# A real Celery worker for the worker-tier test and the benchmark: one process,
# no chatter between workers, so it is ready quickly and easy to stop.
CELERY_WORKER_COMMAND = [
    sys.executable,
    "-m",
    "celery",
    "-A",
    "portal",
    "worker",
    "--pool",
    "solo",
    "--loglevel",
    "WARNING",
    "--without-heartbeat",
    "--without-gossip",
    "--without-mingle",
]


def example(name: str) -> Any:
    """A fresh copy of an official payload, e.g. ``example("github/pulls_get.json")``."""
    return json.loads((EXAMPLES / name).read_text())


@dataclass
class Route:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    etag: bool = True


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    status: int


class FakeProviders:
    """Routes by path (query ignored). Unknown paths answer 404 like the real APIs."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._answer(self)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

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

    def json(self, path: str, data: Any, *, status: int = 200, headers: dict | None = None, **kwargs) -> None:
        self.raw(path, json.dumps(data), status=status, headers=headers, **kwargs)

    def raw(self, path: str, text: str, *, status: int = 200, headers: dict | None = None, **kwargs) -> None:
        with self.lock:
            self.routes[path] = Route(
                body=text.encode(),
                status=status,
                headers={"Content-Type": "application/json", **(headers or {})},
                **kwargs,
            )

    def requests_to(self, prefix: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path.startswith(prefix)]

    def counted(self, prefix: str = "/github") -> int:
        """Requests GitHub would count against the rate limit: everything but a 304."""
        return sum(1 for s in self.requests_to(prefix) if s.status != 304)

    def clear_seen(self) -> None:
        with self.lock:
            self.seen.clear()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        with self.lock:
            route = self.routes.get(parts.path)
        status = route.status if route else 404
        headers = dict(route.headers) if route else {"Content-Type": "application/json"}
        body = route.body if route else b'{"message": "Not Found"}'
        if route and route.delay:
            time.sleep(route.delay)
        if route and route.etag and status == 200:
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            headers["ETag"] = etag
            if handler.headers.get("If-None-Match") == etag:
                status, body = 304, b""
        with self.lock:
            self.seen.append(Seen("GET", parts.path, parts.query, dict(handler.headers), status))
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
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
    ) -> None:
        pull = example("github/pulls_get.json")
        pull["number"] = number
        pull["state"] = state
        pull["merged"] = merged_at is not None
        pull["merged_at"] = merged_at
        pull["merge_commit_sha"] = merge_commit_sha or None
        pull["head"]["sha"] = head_sha
        pull["html_url"] = f"https://github.com/{repo}/pull/{number}"
        self.json(f"/github/repos/{repo}/pulls/{number}", pull)
        commit = example("github/repos_get_commit.RECONSTRUCTED.json")
        commit["sha"] = head_sha
        commit["commit"]["committer"]["date"] = committed_at
        self.json(f"/github/repos/{repo}/commits/{head_sha}", commit)
        template = example("github/pulls_list_files.RECONSTRUCTED.json")[0]
        self.json(
            f"/github/repos/{repo}/pulls/{number}/files",
            [{**template, "filename": name} for name in (files or [])],
        )
        self.github_checks(repo, head_sha, [])
        self.github_statuses(repo, head_sha, [])
        self.github_reviews(repo, number, [])

    def github_checks(self, repo: str, sha: str, runs: list[dict]) -> None:
        """``runs``: dicts of check-run fields to change, e.g. {"name": "pytest", "conclusion": "failure"}."""
        page = example("github/checks_list_for_ref.json")
        template = page["check_runs"][0]
        page["check_runs"] = []
        for index, changes in enumerate(runs):
            run = copy.deepcopy(template)
            run["id"] = 1000 + index
            run["head_sha"] = sha
            output = changes.pop("output", None)
            run.update(changes)
            if output:
                run["output"].update(output)
            if run["status"] != "completed":
                run["conclusion"] = None
            page["check_runs"].append(run)
        page["total_count"] = len(page["check_runs"])
        self.json(f"/github/repos/{repo}/commits/{sha}/check-runs", page)

    def github_statuses(self, repo: str, sha: str, statuses: list[dict]) -> None:
        combined = example("github/repos_get_combined_status_for_ref.json")
        template = combined["statuses"][0]
        combined["sha"] = sha
        combined["statuses"] = [{**template, **changes} for changes in statuses]
        combined["total_count"] = len(statuses)
        self.json(f"/github/repos/{repo}/commits/{sha}/status", combined)

    def github_reviews(self, repo: str, number: int, reviews: list[dict]) -> None:
        template = example("github/pulls_list_reviews.json")[0]
        items = []
        for index, changes in enumerate(reviews):
            review = copy.deepcopy(template)
            review["id"] = 500 + index
            login = changes.pop("login", None)
            review.update(changes)
            if login:
                review["user"]["login"] = login
            items.append(review)
        self.json(f"/github/repos/{repo}/pulls/{number}/reviews", items)

    def github_compare(self, repo: str, base: str, head: str, status: str) -> None:
        comparison = example("github/repos_compare_commits.RECONSTRUCTED.json")
        comparison["status"] = status
        comparison["ahead_by"] = 1 if status in ("ahead", "diverged") else 0
        comparison["behind_by"] = 1 if status in ("behind", "diverged") else 0
        self.json(f"/github/repos/{repo}/compare/{base}...{head}", comparison)

    # -- Render and Sentry ---------------------------------------------------------

    def render_deploys(self, service_id: str, deploys: list[dict]) -> None:
        """``deploys``: changes to the official list's first (git) deploy, newest first."""
        template = example("render/deploys_list.RECONSTRUCTED.json")[0]
        items = []
        for index, changes in enumerate(deploys):
            item = copy.deepcopy(template)
            item["cursor"] = f"cursor-{index}"
            commit_id = changes.pop("commit_id", None)
            item["deploy"].update(changes)
            if commit_id is not None:
                item["deploy"]["commit"]["id"] = commit_id
            items.append(item)
        self.json(f"/render/v1/services/{service_id}/deploys", items, etag=False)

    def sentry_issues(self, organization: str, issues: list[dict]) -> None:
        template = example("sentry/organizations_issues_list.json")[0]
        items = []
        for index, changes in enumerate(issues):
            issue = copy.deepcopy(template)
            issue["id"] = str(100 + index)
            project = changes.pop("project_slug", None)
            issue.update(changes)
            if project:
                issue["project"]["slug"] = project
            items.append(issue)
        self.json(f"/sentry/api/0/organizations/{organization}/issues/", items, etag=False)
