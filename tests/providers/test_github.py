"""GitHub client contract: the official payloads, served over HTTP, parse into typed objects.

Comment payloads are RECONSTRUCTED from GitHub's documented ``issue-comment``
schema (``providers.fake.payloads.github_comment``): the shared examples hold none.
"""

from __future__ import annotations

import pytest

from providers.fake import DemoWorld, FakeProviders, example
from providers.fake.payloads import github_comment
from providers.github import CommitStatus, GitHubClient, IssueComment
from providers.http import MalformedResponse, ProviderError

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


# -- writing: comments and commit statuses, against the demo's simulated GitHub -----------------------------

WORLD_REPO = "demo-org/paiid"


@pytest.fixture
def world(tmp_path):
    world = DemoWorld(path=tmp_path / "world.json")
    world.add_repository(WORLD_REPO)
    return world


@pytest.fixture
def simulated(world):
    server = FakeProviders(world=world).start()
    with GitHubClient(token="t", base_url=server.github_url) as client:
        yield client, server
    server.stop()


def test_a_comment_is_created_edited_and_found_again(simulated, world):
    github, server = simulated
    created = github.create_issue_comment(WORLD_REPO, 8, "Batch 2 is ready.\n<!-- gatehouse:batch-2 -->")
    assert isinstance(created, IssueComment)
    assert created.user_login == "gatehouse"
    assert created.html_url == f"https://github.com/{WORLD_REPO}/pull/8#issuecomment-{created.id}"
    assert created.created_at is not None
    edited = github.update_issue_comment(WORLD_REPO, created.id, "Batch 2 is approved.\n<!-- gatehouse:batch-2 -->")
    assert (edited.id, edited.body) == (created.id, "Batch 2 is approved.\n<!-- gatehouse:batch-2 -->")
    listed = github.list_issue_comments(WORLD_REPO, 8)
    assert [(c.id, c.body) for c in listed] == [(edited.id, edited.body)]
    assert [c.body for c in world.state.repositories[WORLD_REPO].comments] == [edited.body]
    assert github.list_issue_comments(WORLD_REPO, 9) == []
    post, patch = server.requests_to("/github/", method="POST"), server.requests_to("/github/", method="PATCH")
    assert post[0].path == f"/github/repos/{WORLD_REPO}/issues/8/comments"
    assert post[0].json() == {"body": "Batch 2 is ready.\n<!-- gatehouse:batch-2 -->"}
    assert patch[0].path == f"/github/repos/{WORLD_REPO}/issues/comments/{created.id}"
    assert post[0].headers["Authorization"] == "Bearer t"


def test_editing_a_comment_that_does_not_exist_is_a_404(simulated):
    github, _ = simulated
    with pytest.raises(ProviderError, match="HTTP 404"):
        github.update_issue_comment(WORLD_REPO, 999, "x")


def test_listing_comments_reads_every_page(github, providers):
    path = f"/github/repos/{REPO}/issues/3/comments"
    at = "2026-01-01T10:00:00Z"
    page1 = [github_comment(REPO, 3, comment_id=n, body=f"c{n}", login="octocat", at=at) for n in (1, 2)]
    page2 = [github_comment(REPO, 3, comment_id=3, body="<!-- marker -->", login="gatehouse", at=at)]
    providers.json(path, page1, headers={"Link": f'<{providers.github_url}/page2?page=2>; rel="next"'})
    providers.json("/github/page2", page2)
    comments = github.list_issue_comments(REPO, 3)
    assert [c.id for c in comments] == [1, 2, 3]
    assert next(c for c in comments if "<!-- marker -->" in c.body).user_login == "gatehouse"
    assert providers.requests_to(path)[0].query == "per_page=100"


def test_a_commit_status_is_posted_and_typed(simulated, world):
    github, server = simulated
    head = world.pull(WORLD_REPO, 5).head_sha
    status = github.create_commit_status(
        WORLD_REPO,
        head,
        state="pending",
        context="gatehouse/batch",
        description="Batch 2: 3 of 5 gates passing",
        target_url="https://gatehouse.example/plans/p/batches/2/",
    )
    assert isinstance(status, CommitStatus)
    assert (status.context, status.state, status.description) == (
        "gatehouse/batch",
        "pending",
        "Batch 2: 3 of 5 gates passing",
    )
    assert status.target_url == "https://gatehouse.example/plans/p/batches/2/"
    assert [(s.context, s.state) for s in github.list_statuses(WORLD_REPO, head)] == [("gatehouse/batch", "pending")]
    (seen,) = server.requests_to("/github/", method="POST")
    assert seen.path == f"/github/repos/{WORLD_REPO}/statuses/{head}"


def test_a_long_status_description_is_cut_to_githubs_limit_and_no_target_url_is_null(simulated, world):
    github, server = simulated
    head = world.pull(WORLD_REPO, 5).head_sha
    status = github.create_commit_status(WORLD_REPO, head, state="success", context="gatehouse", description="x" * 200)
    assert len(status.description) == 140
    assert status.description.endswith("…")
    sent = server.requests_to("/github/", method="POST")[0].json()
    assert sent["target_url"] is None
    assert len(sent["description"]) == 140


def test_an_unknown_status_state_is_refused_before_any_request(simulated, world):
    github, server = simulated
    with pytest.raises(ValueError, match="error, failure, pending, success"):
        github.create_commit_status(WORLD_REPO, "a" * 40, state="great", context="gatehouse")
    assert server.seen == []


def test_a_status_on_an_unknown_commit_is_refused_by_github(simulated):
    github, _ = simulated
    with pytest.raises(ProviderError, match="HTTP 404"):
        github.create_commit_status(WORLD_REPO, "f" * 40, state="success", context="gatehouse")


def test_a_created_comment_missing_its_id_is_malformed(github, providers):
    comment = github_comment(REPO, 3, comment_id=1, body="hi", login="gatehouse", at="2026-01-01T10:00:00Z")
    del comment["id"]
    providers.json(f"/github/repos/{REPO}/issues/3/comments", comment, status=201, method="POST")
    with pytest.raises(MalformedResponse, match="GitHub sent the new comment we cannot read"):
        github.create_issue_comment(REPO, 3, "hi")


def test_pull_request_opening_time(github, providers):
    providers.json(f"/github/repos/{REPO}/pulls/1347", example("github/pulls_get.json"))
    assert github.get_pull(REPO, 1347).created_at.isoformat() == "2011-01-26T19:01:12+00:00"


def test_review_comments_name_their_review(github, providers):
    providers.json(f"/github/repos/{REPO}/pulls/1347/comments", example("github/pulls_list_review_comments.json"))
    (comment,) = github.list_review_comments(REPO, 1347)
    assert (comment.id, comment.review_id, comment.user_login) == (10, 42, "octocat")
    assert (comment.body, comment.path) == ("Great stuff!", "file1.txt")
    assert comment.created_at.isoformat() == "2011-04-14T16:00:49+00:00"
    assert providers.requests_to("/github/")[0].query == "per_page=100"


def test_pull_request_commits(github, providers):
    providers.json(f"/github/repos/{REPO}/pulls/1347/commits", example("github/pulls_list_commits.json"))
    (commit,) = github.list_pull_commits(REPO, 1347)
    assert commit.sha == "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    assert commit.committed_at.isoformat() == "2011-04-14T16:00:49+00:00"


def test_review_comments_garbage_is_malformed(github, providers):
    providers.json(f"/github/repos/{REPO}/pulls/1347/comments", {"message": "not a list"})
    with pytest.raises(MalformedResponse):
        github.list_review_comments(REPO, 1347)
