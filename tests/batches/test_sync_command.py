"""`manage.py sync_gates`: one sync pass, inline."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from batches.models import GateKind, GateState
from tests.batches.conftest import REPO, SHA1, SHA2

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("sync_gates", *args, stdout=out)
    return out.getvalue()


def test_one_pass_prints_what_changed_and_the_request_cost(open_prs, batch):
    for sha in (SHA1, SHA2):
        open_prs.github_checks(REPO, sha, [{"name": "pytest", "status": "completed", "conclusion": "success"}])
    first = run("--plan", batch.plan.slug, "--batch", "1")
    assert f"{batch.plan.slug} batch 1 CI “pytest”: needs_config → passing" in first
    assert "Synced 1 batch:" in first
    assert batch.gates.get(kind=GateKind.CI).state == GateState.PASSING
    second = run("--plan", batch.plan.slug)
    assert "→" not in second
    assert "0 counted against the rate limit" in second


def test_errors_are_printed(open_prs, batch):
    open_prs.raw(f"/github/repos/{REPO}/pulls/11", "oops", status=503)
    output = run()
    assert "Error: GitHub is unavailable (HTTP 503)." in output


def test_bad_arguments_are_refused(batch):
    with pytest.raises(CommandError, match="--batch needs --plan"):
        run("--batch", "1")
    with pytest.raises(CommandError, match="has no batch 9"):
        run("--plan", batch.plan.slug, "--batch", "9")
    with pytest.raises(CommandError, match="There is no plan “nope”"):
        run("--plan", "nope")
