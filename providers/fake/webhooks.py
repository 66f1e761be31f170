"""GitHub webhook deliveries as GitHub sends them: official payloads, signed, with the delivery headers.

``deliver_github_webhook`` POSTs one delivery over HTTP; ``webhook_delivery``
builds it (body and headers) for callers that hand it to a view in-process.
The payload builders copy the official examples (``examples/github/webhook_*``)
and change named fields only.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

from providers.fake.payloads import example

EVENTS = frozenset({"check_run", "pull_request", "pull_request_review", "status", "ping"})


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]

    @property
    def delivery_id(self) -> str:
        return self.headers["X-GitHub-Delivery"]


def signature(secret: str, body: bytes) -> str:
    """``X-Hub-Signature-256``: ``sha256=`` and the hex HMAC-SHA256 of the raw body, keyed with the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_delivery(*, secret: str, event: str, payload: dict, delivery_id: str | None = None) -> Delivery:
    """The body and headers GitHub would send for ``payload`` (a redelivery reuses ``delivery_id``)."""
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        # The header names GitHub's webhooks description declares for every event.
        "User-Agent": "GitHub-Hookshot/gatehouse-demo",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "1",
        "X-GitHub-Hook-Installation-Target-ID": str((payload.get("repository") or {}).get("id") or 1),
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        "X-Hub-Signature-256": signature(secret, body),
    }
    return Delivery(body=body, headers=headers)


def deliver_github_webhook(
    url: str, *, secret: str, event: str, payload: dict, delivery_id: str | None = None, timeout: float = 30
) -> int:
    """POST a signed delivery to ``url`` and return the HTTP status the receiver answered."""
    delivery = webhook_delivery(secret=secret, event=event, payload=payload, delivery_id=delivery_id)
    request = urllib.request.Request(url, data=delivery.body, headers=delivery.headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback, http by design)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


# -- payloads ------------------------------------------------------------------------


def _repository(payload: dict, repo: str) -> None:
    owner, name = repo.split("/", 1)
    repository = payload["repository"]
    repository["full_name"] = repo
    repository["name"] = name
    repository["owner"]["login"] = owner
    repository["html_url"] = f"https://github.com/{repo}"


def check_run_completed(
    repo: str, *, name: str, conclusion: str, head_sha: str, numbers: list[int], completed_at: str, run_id: int = 0
) -> dict:
    """``check_run`` / ``completed`` for the run ``name`` on ``head_sha`` (the PRs it belongs to: ``numbers``)."""
    payload = example("github/webhook_check_run_completed.json")
    _repository(payload, repo)
    run = payload["check_run"]
    run.update(
        {
            "name": name,
            "conclusion": conclusion,
            "status": "completed",
            "head_sha": head_sha,
            "completed_at": completed_at,
        }
    )
    if run_id:
        run["id"] = run_id
    template = run["pull_requests"][0] if run["pull_requests"] else {"head": {}, "base": {}}
    pulls = []
    for number in numbers:
        pull = copy.deepcopy(template)
        pull["number"] = number
        pull["url"] = f"https://api.github.com/repos/{repo}/pulls/{number}"
        pull["head"]["sha"] = head_sha
        pulls.append(pull)
    run["pull_requests"] = pulls
    return payload


def pull_request_event(
    repo: str,
    action: str,
    *,
    number: int,
    head_sha: str,
    merged_at: str | None = None,
    merge_commit_sha: str = "",
) -> dict:
    """``pull_request`` / ``opened`` or ``closed`` (merged when ``merged_at`` is given)."""
    if action == "opened":
        payload = example("github/webhook_pull_request_opened.json")
    elif action == "closed" and merged_at:
        payload = example("github/webhook_pull_request_closed_merged.DERIVED.json")
    elif action == "closed":
        payload = example("github/webhook_pull_request_closed.json")
    else:
        raise ValueError(f"No example for pull_request/{action}.")
    _repository(payload, repo)
    payload["number"] = number
    pull = payload["pull_request"]
    pull["number"] = number
    pull["html_url"] = f"https://github.com/{repo}/pull/{number}"
    pull["head"]["sha"] = head_sha
    if action == "closed":
        pull["state"] = "closed"
        pull["merged"] = merged_at is not None
        pull["merged_at"] = merged_at
        pull["closed_at"] = merged_at or pull.get("closed_at")
        pull["merge_commit_sha"] = merge_commit_sha or pull.get("merge_commit_sha")
    return payload


def pull_request_review_submitted(
    repo: str, *, number: int, head_sha: str, login: str, state: str, submitted_at: str, review_id: int = 0, body=""
) -> dict:
    """``pull_request_review`` / ``submitted``; webhooks send the review state in lower case."""
    payload = example("github/webhook_pull_request_review_submitted.json")
    _repository(payload, repo)
    review = payload["review"]
    review.update(
        {
            "state": state.lower(),
            "commit_id": head_sha,
            "submitted_at": submitted_at,
            "body": body,
            "html_url": f"https://github.com/{repo}/pull/{number}#pullrequestreview-{review_id or review['id']}",
        }
    )
    if review_id:
        review["id"] = review_id
    review["user"]["login"] = login
    review["user"]["type"] = "Bot" if login.endswith("[bot]") else "User"
    pull = payload["pull_request"]
    pull["number"] = number
    pull["html_url"] = f"https://github.com/{repo}/pull/{number}"
    pull["head"]["sha"] = head_sha
    return payload


def status_event(repo: str, *, sha: str, context: str, state: str, description: str = "", target_url: str = "") -> dict:
    """``status`` for one commit status.

    RECONSTRUCTED: the shared examples hold no ``status`` delivery, so this
    follows GitHub's documented schema (``webhook-status``: id, sha, name,
    context, state, description, target_url, repository, sender), taking the
    repository and sender objects from the official ``check_run`` delivery.
    """
    base = example("github/webhook_check_run_completed.json")
    _repository(base, repo)
    return {
        "id": int(hashlib.sha256(f"{repo}/{sha}/{context}/{state}".encode()).hexdigest()[:10], 16),
        "sha": sha,
        "name": repo,
        "context": context,
        "state": state,
        "description": description,
        "target_url": target_url or None,
        "commit": {"sha": sha},
        "branches": [],
        "repository": base["repository"],
        "sender": base["sender"],
    }


def ping_event(repo: str, *, hook_id: int = 1, zen: str = "Design for failure.") -> dict:
    """``ping``, sent once when a webhook is created.

    RECONSTRUCTED: the shared examples hold no ``ping`` delivery, so this
    follows GitHub's documented schema (``webhook-ping``: zen, hook_id, hook,
    repository, sender), trimmed to those fields with ``hook`` cut to its
    identifying ones, and the repository and sender taken from the official
    ``check_run`` delivery.
    """
    base = example("github/webhook_check_run_completed.json")
    _repository(base, repo)
    return {
        "zen": zen,
        "hook_id": hook_id,
        "hook": {
            "type": "Repository",
            "id": hook_id,
            "name": "web",
            "active": True,
            "events": sorted(EVENTS - {"ping"}),
            "config": {
                "content_type": "json",
                "insecure_ssl": "0",
                "url": "https://gatehouse.example/webhooks/github/",
            },
        },
        "repository": base["repository"],
        "sender": base["sender"],
    }
