"""Provider payloads built from the official examples, changing named fields only.

Both the scenario builders of :class:`~providers.fake.server.FakeProviders`
(tests, bench) and the simulated world of the demo build their answers here,
so every answer has the shape GitHub, Render and Sentry publish.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent / "examples"


@cache
def _example_text(name: str) -> str:
    return (EXAMPLES / name).read_text()


def example(name: str) -> Any:
    """A fresh copy of an official payload, e.g. ``example("github/pulls_get.json")``."""
    return json.loads(_example_text(name))


# -- GitHub ------------------------------------------------------------------------


def github_pull(
    repo: str,
    number: int,
    *,
    head_sha: str,
    state: str = "open",
    merged_at: str | None = None,
    merge_commit_sha: str = "",
    title: str = "",
    created_at: str | None = None,
) -> dict:
    """``GET /repos/{repo}/pulls/{number}``."""
    pull = example("github/pulls_get.json")
    pull["number"] = number
    if created_at is not None:
        pull["created_at"] = created_at
    pull["state"] = state
    pull["merged"] = merged_at is not None
    pull["merged_at"] = merged_at
    pull["merge_commit_sha"] = merge_commit_sha or None
    pull["head"]["sha"] = head_sha
    pull["html_url"] = f"https://github.com/{repo}/pull/{number}"
    if title:
        pull["title"] = title
    return pull


def github_commit(sha: str, *, committed_at: str) -> dict:
    """``GET /repos/{repo}/commits/{sha}``."""
    commit = example("github/repos_get_commit.RECONSTRUCTED.json")
    commit["sha"] = sha
    commit["commit"]["committer"]["date"] = committed_at
    return commit


def github_pull_commits(commits: list[tuple[str, str]]) -> list[dict]:
    """``GET /repos/{repo}/pulls/{number}/commits``: ``commits`` are (sha, committed_at), oldest first."""
    template = example("github/pulls_list_commits.json")[0]
    items = []
    for sha, at in commits:
        item = copy.deepcopy(template)
        item["sha"] = sha
        item["commit"]["author"]["date"] = at
        item["commit"]["committer"]["date"] = at
        items.append(item)
    return items


def github_review_comments(comments: list[dict], *, first_id: int = 700) -> list[dict]:
    """``GET /repos/{repo}/pulls/{number}/comments``; ``comments`` are fields (and ``login``) to change."""
    return _authored(example("github/pulls_list_review_comments.json")[0], comments, first_id=first_id)


def _authored(template: dict, items: list[dict], *, first_id: int) -> list[dict]:
    """Copies of ``template`` (a review or a review comment) with each item's fields, ids counting up from
    ``first_id``; a ``login`` sets the author, a Bot when it ends in ``[bot]`` as GitHub's apps do."""
    out = []
    for index, changes in enumerate(items):
        changes = dict(changes)
        item = copy.deepcopy(template)
        item["id"] = changes.pop("id", first_id + index)
        login = changes.pop("login", None)
        item.update(changes)
        if login:
            item["user"]["login"] = login
            item["user"]["type"] = "Bot" if login.endswith("[bot]") else "User"
        out.append(item)
    return out


def github_files(names: list[str]) -> list[dict]:
    """``GET /repos/{repo}/pulls/{number}/files``."""
    template = example("github/pulls_list_files.RECONSTRUCTED.json")[0]
    return [{**template, "filename": name} for name in names]


def github_check_runs(sha: str, runs: list[dict], *, first_id: int = 1000) -> dict:
    """``GET /repos/{repo}/commits/{sha}/check-runs``; ``runs`` are check-run fields to change."""
    page = example("github/checks_list_for_ref.json")
    template = page["check_runs"][0]
    page["check_runs"] = []
    for index, changes in enumerate(runs):
        changes = dict(changes)
        run = copy.deepcopy(template)
        run["id"] = first_id + index
        run["head_sha"] = sha
        output = changes.pop("output", None)
        run.update(changes)
        if output:
            run["output"].update(output)
        if run["status"] != "completed":
            run["conclusion"] = None
        page["check_runs"].append(run)
    page["total_count"] = len(page["check_runs"])
    return page


def github_status(changes: dict) -> dict:
    """One commit status (the items of the combined status; also what ``POST /statuses/{sha}`` answers)."""
    template = example("github/repos_get_combined_status_for_ref.json")["statuses"][0]
    return {**template, **changes}


def github_combined_status(sha: str, statuses: list[dict]) -> dict:
    """``GET /repos/{repo}/commits/{sha}/status``; ``statuses`` are status fields to change."""
    combined = example("github/repos_get_combined_status_for_ref.json")
    combined["sha"] = sha
    combined["statuses"] = [github_status(changes) for changes in statuses]
    combined["total_count"] = len(statuses)
    states = {s["state"] for s in combined["statuses"]}
    # GitHub's combined state: failure if any failed, pending if any pending (or none), else success.
    combined["state"] = (
        "failure" if states & {"failure", "error"} else "pending" if "pending" in states or not states else "success"
    )
    return combined


def github_reviews(reviews: list[dict], *, first_id: int = 500) -> list[dict]:
    """``GET /repos/{repo}/pulls/{number}/reviews``; ``reviews`` are review fields (and ``login``) to change."""
    return _authored(example("github/pulls_list_reviews.json")[0], reviews, first_id=first_id)


def github_comparison(status: str, *, ahead_by: int | None = None, behind_by: int | None = None) -> dict:
    """``GET /repos/{repo}/compare/{base}...{head}``."""
    comparison = example("github/repos_compare_commits.RECONSTRUCTED.json")
    comparison["status"] = status
    comparison["ahead_by"] = ahead_by if ahead_by is not None else int(status in ("ahead", "diverged"))
    comparison["behind_by"] = behind_by if behind_by is not None else int(status in ("behind", "diverged"))
    comparison["total_commits"] = comparison["ahead_by"]
    return comparison


def github_comment(repo: str, number: int, *, comment_id: int, body: str, login: str, at: str) -> dict:
    """An issue comment: ``POST /repos/{repo}/issues/{number}/comments`` answers one, the list answers many.

    From ``github/issues_create_comment.DERIVED.json`` (GitHub's documented
    ``issue-comment`` schema and its example; the shared examples have no comment
    payload), with the identifying fields changed.
    """
    comment = example("github/issues_create_comment.DERIVED.json")
    comment["id"] = comment_id
    comment["node_id"] = f"IC_fake{comment_id}"
    comment["url"] = f"https://api.github.com/repos/{repo}/issues/comments/{comment_id}"
    comment["html_url"] = f"https://github.com/{repo}/pull/{number}#issuecomment-{comment_id}"
    comment["issue_url"] = f"https://api.github.com/repos/{repo}/issues/{number}"
    comment["body"] = body
    comment["user"]["login"] = login
    comment["user"]["type"] = "Bot" if login.endswith("[bot]") else "User"
    comment["created_at"] = comment["updated_at"] = at
    return comment


# -- Render ------------------------------------------------------------------------


def render_deploy(changes: dict, *, commit_id: str | None = None, commit_message: str | None = None) -> dict:
    """One deploy (``GET /v1/services/{id}/deploys/{deployId}``), from the list's first (git) deploy."""
    deploy = example("render/deploys_list.RECONSTRUCTED.json")[0]["deploy"]
    deploy.update(changes)
    if commit_id is not None:
        deploy["commit"]["id"] = commit_id
    if commit_message is not None:
        deploy["commit"]["message"] = commit_message
    return deploy


def render_deploys(deploys: list[dict]) -> list[dict]:
    """``GET /v1/services/{id}/deploys``: each deploy beside its pagination cursor, newest first."""
    return [{"cursor": f"cursor-{index}", "deploy": deploy} for index, deploy in enumerate(deploys)]


# -- Sentry ------------------------------------------------------------------------


def sentry_issue(changes: dict, *, project_slug: str | None = None) -> dict:
    """One item of ``GET /api/0/organizations/{org}/issues/``."""
    issue = example("sentry/organizations_issues_list.json")[0]
    issue.update(changes)
    if project_slug:
        issue["project"]["slug"] = project_slug
    return issue
