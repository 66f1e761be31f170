"""GitHub client contract: the official payloads, served over HTTP, parse into typed objects."""

from __future__ import annotations

import pytest

from providers.fake import example
from providers.github import GitHubClient
from providers.http import MalformedResponse

pytestmark = pytest.mark.django_db
REPO = "octocat/Hello-World"


@pytest.fixture
def github(providers):
    with GitHubClient() as client:
        yield client


def test_pull_request(github, providers):
    providers.json(f"/github/repos/{REPO}/pulls/1347", example("github/pulls_get.json"))
    pull = github.get_pull(REPO, 1347)
    assert pull.number == 1347
    assert pull.state == "open"
    assert pull.head_sha == "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    assert pull.merge_commit_sha == "e5bd3914e2e596debea16f433f57875b5b90bcd6"
    assert pull.html_url == "https://github.com/octocat/Hello-World/pull/1347"
    seen = providers.requests_to("/github/")[0]
    assert seen.headers["Authorization"] == "Bearer ghp-test"
    assert seen.headers["X-GitHub-Api-Version"] == "2022-11-28"


def test_check_runs(github, providers):
    sha = "ce587453ced02b1526dfb4cb910479d431683101"
    providers.json(f"/github/repos/{REPO}/commits/{sha}/check-runs", example("github/checks_list_for_ref.json"))
    (run,) = github.list_check_runs(REPO, sha)
    assert (run.name, run.status, run.conclusion) == ("mighty_readme", "completed", "neutral")
    assert run.output_title == "Mighty Readme report"
    assert run.html_url == "https://github.com/github/hello-world/runs/4"
    assert providers.requests_to("/github/")[0].query == "per_page=100"


def test_combined_status(github, providers):
    sha = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    providers.json(
        f"/github/repos/{REPO}/commits/{sha}/status", example("github/repos_get_combined_status_for_ref.json")
    )
    statuses = github.list_statuses(REPO, sha)
    assert [(s.context, s.state) for s in statuses] == [
        ("continuous-integration/jenkins", "success"),
        ("security/brakeman", "success"),
    ]


def test_reviews_state_is_upper_case(github, providers):
    providers.json(f"/github/repos/{REPO}/pulls/12/reviews", example("github/pulls_list_reviews.json"))
    (review,) = github.list_reviews(REPO, 12)
    assert (review.user_login, review.state) == ("octocat", "APPROVED")
    assert review.commit_id == "ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091"


def test_files_commit_and_compare(github, providers):
    providers.json(f"/github/repos/{REPO}/pulls/12/files", example("github/pulls_list_files.RECONSTRUCTED.json"))
    providers.json(f"/github/repos/{REPO}/commits/abc", example("github/repos_get_commit.RECONSTRUCTED.json"))
    providers.json(f"/github/repos/{REPO}/compare/a...b", example("github/repos_compare_commits.RECONSTRUCTED.json"))
    assert [f.filename for f in github.list_pull_files(REPO, 12)] == ["file1.txt"]
    assert github.get_commit(REPO, "abc").committed_at.isoformat() == "2011-04-14T16:00:49+00:00"
    assert github.compare(REPO, "a", "b").head_contains_base


def test_a_payload_missing_a_field_is_malformed(github, providers):
    pull = example("github/pulls_get.json")
    del pull["head"]
    providers.json(f"/github/repos/{REPO}/pulls/1", pull)
    with pytest.raises(MalformedResponse, match="GitHub sent a pull request we cannot read"):
        github.get_pull(REPO, 1)
