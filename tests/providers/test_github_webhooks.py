"""GitHub webhook deliveries: the signature check, and each event parsed from GitHub's own payloads.

The payloads are the official examples (``providers/fake/examples/github/webhook_*.json``);
``status`` and ``ping`` have none, so the fake's RECONSTRUCTED builders stand in for them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from providers.fake import example
from providers.fake.webhooks import ping_event, status_event
from providers.github_webhooks import (
    MAX_DEPTH,
    CheckRunEvent,
    CheckSuiteEvent,
    MalformedWebhook,
    OtherEvent,
    PingEvent,
    PullRequestEvent,
    PullRequestReviewEvent,
    StatusEvent,
    parse_event,
    signature_for,
    verify_signature,
)

EXAMPLE_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
EXAMPLE_REPO = "Codertocat/Hello-World"


def body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


# -- signature -----------------------------------------------------------------------------------------------


def test_githubs_documented_test_vector():
    vector = example("github/webhook_signature_test_vector.json")
    payload = vector["payload"].encode()
    assert signature_for(vector["secret"], payload) == vector["X-Hub-Signature-256"]
    assert verify_signature(vector["secret"], payload, vector["X-Hub-Signature-256"])
    assert not verify_signature(vector["secret"], b"Hello, World?", vector["X-Hub-Signature-256"])
    assert not verify_signature("another secret", payload, vector["X-Hub-Signature-256"])


@pytest.mark.parametrize(
    "header",
    [
        "",
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",  # no sha256= prefix
        "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6",  # the legacy header's format
        "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17",  # GitHub sends lower case
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1é",
    ],
)
def test_anything_but_the_exact_signature_is_refused(header):
    vector = example("github/webhook_signature_test_vector.json")
    assert not verify_signature(vector["secret"], vector["payload"].encode(), header)


# -- each event, from GitHub's examples ------------------------------------------------------------------------


def test_pull_request_opened():
    event = parse_event("pull_request", body(example("github/webhook_pull_request_opened.json")))
    assert event == PullRequestEvent(
        name="pull_request",
        action="opened",
        repository=EXAMPLE_REPO,
        number=2,
        head_sha=EXAMPLE_SHA,
        state="open",
        merged=False,
    )
    assert (event.pr_numbers, event.head_shas) == (frozenset({2}), frozenset())


@pytest.mark.parametrize(
    ("name", "merged"),
    [("webhook_pull_request_closed.json", False), ("webhook_pull_request_closed_merged.DERIVED.json", True)],
)
def test_pull_request_closed_says_whether_it_merged(name, merged):
    event = parse_event("pull_request", body(example(f"github/{name}")))
    assert isinstance(event, PullRequestEvent)
    assert (event.action, event.state, event.merged, event.number) == ("closed", "closed", merged, 2)


def test_pull_request_review_submitted_upper_cases_the_state_as_the_rest_api_does():
    event = parse_event("pull_request_review", body(example("github/webhook_pull_request_review_submitted.json")))
    assert event == PullRequestReviewEvent(
        name="pull_request_review",
        action="submitted",
        repository=EXAMPLE_REPO,
        number=2,
        head_sha=EXAMPLE_SHA,
        review_state="COMMENTED",
        reviewer_login="Codertocat",
        commit_id=EXAMPLE_SHA,
    )
    assert (event.pr_numbers, event.head_shas) == (frozenset({2}), frozenset())


def test_check_run_completed_names_its_prs_and_its_commit():
    event = parse_event("check_run", body(example("github/webhook_check_run_completed.json")))
    assert event == CheckRunEvent(
        name="check_run",
        action="completed",
        repository=EXAMPLE_REPO,
        check_name="Octocoders-linter",
        head_sha=EXAMPLE_SHA,
        status="completed",
        conclusion="success",
        numbers=frozenset({2}),
    )
    assert (event.pr_numbers, event.head_shas) == (frozenset({2}), frozenset({EXAMPLE_SHA}))


def test_check_suite_completed_names_its_prs_and_its_commit():
    event = parse_event("check_suite", body(example("github/webhook_check_suite_completed.json")))
    assert event == CheckSuiteEvent(
        name="check_suite",
        action="completed",
        repository=EXAMPLE_REPO,
        head_sha=EXAMPLE_SHA,
        status="completed",
        conclusion="success",
        numbers=frozenset({2}),
    )
    assert (event.pr_numbers, event.head_shas) == (frozenset({2}), frozenset({EXAMPLE_SHA}))


def test_a_check_run_of_a_fork_pr_lists_no_prs_and_is_found_by_its_commit():
    payload = example("github/webhook_check_run_completed.json")
    payload["check_run"]["pull_requests"] = []
    event = parse_event("check_run", body(payload))
    assert (event.pr_numbers, event.head_shas) == (frozenset(), frozenset({EXAMPLE_SHA}))


def test_status_names_only_its_commit():
    payload = status_event("octo-org/repo", sha="a" * 40, context="ci/lint", state="failure")
    event = parse_event("status", body(payload))
    assert event == StatusEvent(
        name="status", action="", repository="octo-org/repo", sha="a" * 40, context="ci/lint", state="failure"
    )
    assert (event.pr_numbers, event.head_shas) == (frozenset(), frozenset({"a" * 40}))


def test_ping():
    event = parse_event("ping", body(ping_event("octo-org/repo", hook_id=42)))
    assert event == PingEvent(name="ping", action="", repository="octo-org/repo", zen="Design for failure.", hook_id=42)
    assert (event.pr_numbers, event.head_shas) == (frozenset(), frozenset())


def test_any_other_event_concerns_no_pr():
    event = parse_event("issues", body(example("github/webhook_pull_request_opened.json")))
    assert event == OtherEvent(name="issues", action="opened", repository=EXAMPLE_REPO)
    assert (event.pr_numbers, event.head_shas) == (frozenset(), frozenset())
    assert parse_event("", b"{}") == OtherEvent(name="", action="", repository="")


def test_a_delivery_without_a_repository_names_none():
    payload = example("github/webhook_check_run_completed.json")
    del payload["repository"]
    assert parse_event("check_run", body(payload)).repository == ""


def test_nesting_up_to_the_limit_and_brackets_inside_strings_are_fine():
    payload = example("github/webhook_check_run_completed.json")
    deep: Any = "bottom"
    for _ in range(MAX_DEPTH - 1):  # the payload itself is the first level
        deep = [deep]
    payload["deep"] = deep
    payload["check_run"]["output"]["text"] = "[" * 10_000 + "{" * 10_000 + '\\"['
    event = parse_event("check_run", body(payload))
    assert event.head_shas == {EXAMPLE_SHA}


# -- malformed: one sentence each ------------------------------------------------------------------------------


def _changed(name: str, change) -> bytes:
    payload = example(f"github/{name}")
    change(payload)
    return body(payload)


MALFORMED = [
    ("check_run", b"{not json", "The body is not JSON."),
    ("check_run", b"\xff\xfe\xfa", "The body is not JSON."),
    ("check_run", b"", "The body is not JSON."),
    ("check_run", b"[]", "The body is not a JSON object."),
    ("check_run", b'"a string"', "The body is not a JSON object."),
    ("check_run", b"[" * 100_000, f"The body is nested too deeply (more than {MAX_DEPTH} levels)."),
    ("issues", b'{"a": ' * 1000 + b"1" + b"}" * 1000, f"The body is nested too deeply (more than {MAX_DEPTH} levels)."),
    ("ping", b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "The body is nested too deeply"),
    (
        "pull_request",
        _changed("webhook_pull_request_opened.json", lambda p: p.update(repository="Codertocat/Hello-World")),
        "“repository” in the delivery is not an object.",
    ),
    (
        "issues",
        _changed("webhook_pull_request_opened.json", lambda p: p.update(repository=[1])),
        "“repository” in the delivery is not an object.",
    ),
    (
        "check_run",
        _changed("webhook_check_run_completed.json", lambda p: p["repository"].update(full_name=7)),
        "“full_name” in repository is not a string.",
    ),
    (
        "pull_request",
        _changed("webhook_pull_request_opened.json", lambda p: p.update(action=["opened"])),
        "“action” in the delivery is not a string.",
    ),
    (
        "check_suite",
        _changed("webhook_check_suite_completed.json", lambda p: p.update(check_suite="completed")),
        "“check_suite” in the delivery is not an object.",
    ),
    (
        "check_suite",
        _changed("webhook_check_suite_completed.json", lambda p: p.pop("check_suite")),
        "“check_suite” is missing from the delivery.",
    ),
    (
        "check_suite",
        _changed("webhook_check_suite_completed.json", lambda p: p["check_suite"].update(head_sha={"sha": "x"})),
        "“head_sha” in check_suite is not a string.",
    ),
    (
        "check_suite",
        _changed("webhook_check_suite_completed.json", lambda p: p["check_suite"].update(pull_requests={"number": 2})),
        "“pull_requests” in check_suite is not a list.",
    ),
    (
        "check_run",
        _changed("webhook_check_run_completed.json", lambda p: p.update(check_run=[])),
        "“check_run” in the delivery is not an object.",
    ),
    (
        "check_run",
        _changed("webhook_check_run_completed.json", lambda p: p["check_run"].update(head_sha=None)),
        "“head_sha” is missing from check_run.",
    ),
    (
        "check_run",
        _changed("webhook_check_run_completed.json", lambda p: p["check_run"].update(pull_requests=[2])),
        "An item of check_run.pull_requests is not an object.",
    ),
    (
        "check_run",
        _changed("webhook_check_run_completed.json", lambda p: p["check_run"]["pull_requests"][0].update(number="2")),
        "“number” in check_run.pull_requests is missing or not a number.",
    ),
    (
        "pull_request",
        _changed("webhook_pull_request_opened.json", lambda p: p.update(pull_request=2)),
        "“pull_request” in the delivery is not an object.",
    ),
    (
        "pull_request",
        _changed("webhook_pull_request_opened.json", lambda p: p["pull_request"].update(number=True)),
        "“number” in pull_request is missing or not a number.",
    ),
    (
        "pull_request",
        _changed("webhook_pull_request_opened.json", lambda p: p["pull_request"].update(head="changes")),
        "“head” in pull_request is not an object.",
    ),
    (
        "pull_request",
        _changed("webhook_pull_request_opened.json", lambda p: p["pull_request"]["head"].update(sha=12)),
        "“sha” in pull_request.head is not a string.",
    ),
    (
        "pull_request",
        _changed("webhook_pull_request_opened.json", lambda p: p["pull_request"].update(merged="yes")),
        "“merged” in pull_request is not true or false.",
    ),
    (
        "pull_request_review",
        _changed("webhook_pull_request_review_submitted.json", lambda p: p.update(review="approved")),
        "“review” in the delivery is not an object.",
    ),
    (
        "pull_request_review",
        _changed("webhook_pull_request_review_submitted.json", lambda p: p["review"].update(state=1)),
        "“state” in review is not a string.",
    ),
    ("status", body({"sha": 123, "repository": {"full_name": "o/r"}}), "“sha” in the delivery is not a string."),
    ("status", body({"sha": ["a" * 40]}), "“sha” in the delivery is not a string."),
    ("status", body({"state": "success"}), "“sha” is missing from the delivery."),
    ("ping", body({"zen": "Hi", "hook_id": "1"}), "“hook_id” in the delivery is not a number."),
]


@pytest.mark.parametrize(("event_name", "raw", "sentence"), MALFORMED, ids=[m[2][:40] for m in MALFORMED])
def test_a_malformed_delivery_raises_one_sentence(event_name, raw, sentence):
    with pytest.raises(MalformedWebhook) as excinfo:
        parse_event(event_name, raw)
    assert str(excinfo.value).startswith(sentence)
    assert str(excinfo.value).endswith(".")
