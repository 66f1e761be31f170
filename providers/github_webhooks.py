"""GitHub webhook deliveries: the signature check, and the body parsed into typed events.

:func:`verify_signature` checks ``X-Hub-Signature-256`` in constant time;
:func:`parse_event` turns a delivery's raw body into one of the events below,
carrying what the portal acts on: the repository's full name, the pull
request numbers and the head commits the delivery concerns. Nothing deeper
reads the raw JSON.

A body that is not what GitHub documents for its event (not JSON, too deeply
nested, a ``repository`` that is not an object, a ``sha`` that is not a
string…) raises :class:`MalformedWebhook`, whose ``str()`` is one sentence for
the sender. It is only ever seen for correctly signed deliveries, so it means a
bug or a changed contract on GitHub's side, not an attack.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

# GitHub's own payloads nest about six levels deep (check_run.pull_requests[].head.repo);
# anything much deeper is not one of them, and json's recursive decoder must not see it.
MAX_DEPTH = 32

# Strings (whose brackets do not nest anything) or a bracket; used to measure depth before parsing.
_DEPTH_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class MalformedWebhook(ValueError):
    """A delivery whose body is not what GitHub sends for its event. ``str()`` says what is wrong."""


# -- signature ---------------------------------------------------------------------


def signature_for(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret``, compared in constant time."""
    return hmac.compare_digest(signature_for(secret, body).encode(), header.encode())


# -- events ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WebhookEvent:
    """What every delivery carries. ``repository`` is ``owner/name``, or empty when the delivery names none."""

    name: str
    action: str
    repository: str

    @property
    def pr_numbers(self) -> frozenset[int]:
        """Pull requests this delivery names by number."""
        return frozenset()

    @property
    def head_shas(self) -> frozenset[str]:
        """Commits whose pull requests this delivery concerns, when it names them by commit."""
        return frozenset()


@dataclass(frozen=True, kw_only=True)
class PullRequestEvent(WebhookEvent):
    """``pull_request``: opened, closed (merged or not), synchronize (a push), edited…"""

    number: int
    head_sha: str
    state: str
    merged: bool

    @property
    def pr_numbers(self) -> frozenset[int]:
        return frozenset({self.number})

    # No head_shas: the PR is named exactly by its number, and another PR whose
    # head is the same commit is not what this delivery is about.


@dataclass(frozen=True, kw_only=True)
class PullRequestReviewEvent(WebhookEvent):
    """``pull_request_review``: submitted, edited, dismissed. ``review_state`` is upper case, as in the REST API."""

    number: int
    head_sha: str
    review_state: str
    reviewer_login: str
    commit_id: str

    @property
    def pr_numbers(self) -> frozenset[int]:
        return frozenset({self.number})


@dataclass(frozen=True, kw_only=True)
class CheckRunEvent(WebhookEvent):
    """``check_run``: created, completed, rerequested… on ``head_sha``, for the PRs listed.

    GitHub lists only pull requests whose head branch is in the same repository:
    for a PR from a fork ``pull_requests`` is empty, and only the commit finds it.
    """

    check_name: str
    head_sha: str
    status: str
    conclusion: str | None
    numbers: frozenset[int]

    @property
    def pr_numbers(self) -> frozenset[int]:
        return self.numbers

    @property
    def head_shas(self) -> frozenset[str]:
        return frozenset({self.head_sha}) if self.head_sha else frozenset()


@dataclass(frozen=True, kw_only=True)
class CheckSuiteEvent(WebhookEvent):
    """``check_suite``: completed, requested, rerequested, on ``head_sha``."""

    head_sha: str
    status: str
    conclusion: str | None
    numbers: frozenset[int]

    @property
    def pr_numbers(self) -> frozenset[int]:
        return self.numbers

    @property
    def head_shas(self) -> frozenset[str]:
        return frozenset({self.head_sha}) if self.head_sha else frozenset()


@dataclass(frozen=True, kw_only=True)
class StatusEvent(WebhookEvent):
    """``status``: a commit status was set on ``sha`` (it names no PR)."""

    sha: str
    context: str
    state: str

    @property
    def head_shas(self) -> frozenset[str]:
        return frozenset({self.sha}) if self.sha else frozenset()


@dataclass(frozen=True, kw_only=True)
class PingEvent(WebhookEvent):
    """``ping``: sent once when a webhook is created."""

    zen: str
    hook_id: int | None


@dataclass(frozen=True, kw_only=True)
class OtherEvent(WebhookEvent):
    """Any event the portal does not act on (``issues``, ``push``…): concerns no PR."""


# -- parsing -----------------------------------------------------------------------


def parse_event(event_name: str, body: bytes) -> WebhookEvent:
    """The typed event for a delivery's ``X-GitHub-Event`` and raw body; :class:`MalformedWebhook` if it is not one."""
    payload = _load(body)
    action = _optional_str(payload, "action", "the delivery")
    repository = _repository(payload)
    common = {"name": event_name, "action": action, "repository": repository}
    if event_name == "pull_request":
        pull = _object(payload, "pull_request")
        head = _optional_object(pull, "head", "pull_request")
        return PullRequestEvent(
            **common,
            number=_number(pull, "pull_request"),
            head_sha=_optional_str(head, "sha", "pull_request.head"),
            state=_optional_str(pull, "state", "pull_request"),
            merged=_optional_bool(pull, "merged", "pull_request"),
        )
    if event_name == "pull_request_review":
        pull = _object(payload, "pull_request")
        head = _optional_object(pull, "head", "pull_request")
        review = _optional_object(payload, "review", "the delivery")
        user = _optional_object(review, "user", "review")
        return PullRequestReviewEvent(
            **common,
            number=_number(pull, "pull_request"),
            head_sha=_optional_str(head, "sha", "pull_request.head"),
            # Webhooks send the state lower case, the REST API upper case.
            review_state=_optional_str(review, "state", "review").upper(),
            reviewer_login=_optional_str(user, "login", "review.user"),
            commit_id=_optional_str(review, "commit_id", "review"),
        )
    if event_name == "check_run":
        run = _object(payload, "check_run")
        return CheckRunEvent(
            **common,
            check_name=_optional_str(run, "name", "check_run"),
            head_sha=_required_str(run, "head_sha", "check_run"),
            status=_optional_str(run, "status", "check_run"),
            conclusion=_optional_str(run, "conclusion", "check_run") or None,
            numbers=_pull_numbers(run, "check_run"),
        )
    if event_name == "check_suite":
        suite = _object(payload, "check_suite")
        return CheckSuiteEvent(
            **common,
            head_sha=_required_str(suite, "head_sha", "check_suite"),
            status=_optional_str(suite, "status", "check_suite"),
            conclusion=_optional_str(suite, "conclusion", "check_suite") or None,
            numbers=_pull_numbers(suite, "check_suite"),
        )
    if event_name == "status":
        return StatusEvent(
            **common,
            sha=_required_str(payload, "sha", "the delivery"),
            context=_optional_str(payload, "context", "the delivery"),
            state=_optional_str(payload, "state", "the delivery"),
        )
    if event_name == "ping":
        hook_id = payload.get("hook_id")
        if hook_id is not None and (isinstance(hook_id, bool) or not isinstance(hook_id, int)):
            raise MalformedWebhook("“hook_id” in the delivery is not a number.")
        return PingEvent(**common, zen=_optional_str(payload, "zen", "the delivery"), hook_id=hook_id)
    return OtherEvent(**common)


def _load(body: bytes) -> dict[str, Any]:
    _check_depth(body)
    try:
        payload = json.loads(body)
    except RecursionError as exc:  # a second line of defence: _check_depth should have refused it
        raise MalformedWebhook(f"The body is nested too deeply (more than {MAX_DEPTH} levels).") from exc
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not UTF-8/16/32
        raise MalformedWebhook("The body is not JSON.") from exc
    if not isinstance(payload, dict):
        raise MalformedWebhook("The body is not a JSON object.")
    return payload


def _check_depth(body: bytes) -> None:
    """Refuse nesting deeper than MAX_DEPTH before json's recursive decoder sees it."""
    depth = 0
    for token in _DEPTH_TOKENS.finditer(body):
        char = token.group()
        if char in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise MalformedWebhook(f"The body is nested too deeply (more than {MAX_DEPTH} levels).")
        elif char in (b"]", b"}"):
            depth -= 1


def _repository(payload: dict[str, Any]) -> str:
    repository = _optional_object(payload, "repository", "the delivery")
    return _optional_str(repository, "full_name", "repository")


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    if parent.get(key) is None:
        raise MalformedWebhook(f"“{key}” is missing from the delivery.")
    return _optional_object(parent, key, "the delivery")


def _optional_object(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedWebhook(f"“{key}” in {where} is not an object.")
    return value


def _optional_str(parent: dict[str, Any], key: str, where: str) -> str:
    value = parent.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedWebhook(f"“{key}” in {where} is not a string.")
    return value


def _required_str(parent: dict[str, Any], key: str, where: str) -> str:
    if parent.get(key) is None:
        raise MalformedWebhook(f"“{key}” is missing from {where}.")
    return _optional_str(parent, key, where)


def _optional_bool(parent: dict[str, Any], key: str, where: str) -> bool:
    value = parent.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise MalformedWebhook(f"“{key}” in {where} is not true or false.")
    return value


def _number(pull: dict[str, Any], where: str) -> int:
    number = pull.get("number")
    # JSON's true and false arrive as Python bools, which are ints too.
    if isinstance(number, bool) or not isinstance(number, int):
        raise MalformedWebhook(f"“number” in {where} is missing or not a number.")
    return number


def _pull_numbers(item: dict[str, Any], where: str) -> frozenset[int]:
    pulls = item.get("pull_requests")
    if pulls is None:
        return frozenset()
    if not isinstance(pulls, list):
        raise MalformedWebhook(f"“pull_requests” in {where} is not a list.")
    numbers = set()
    for pull in pulls:
        if not isinstance(pull, dict):
            raise MalformedWebhook(f"An item of {where}.pull_requests is not an object.")
        numbers.add(_number(pull, f"{where}.pull_requests"))
    return frozenset(numbers)
