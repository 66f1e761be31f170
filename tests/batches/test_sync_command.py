"""`manage.py sync_gates` and `runportal`'s sync loop."""

from __future__ import annotations

import logging
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from batches.management.commands import runportal
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


@pytest.mark.django_db(transaction=True)
def test_the_dev_server_sync_loop_survives_errors_and_keeps_going(open_prs, batch, monkeypatch, caplog):
    # The loop runs in its own thread with its own connection, so the data must be committed.
    from batches import sync

    calls = []
    real = sync.batches_sync

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        result = real(**kwargs)
        stop.set()
        return result

    monkeypatch.setattr("batches.sync.batches_sync", flaky)
    stop = threading.Event()
    with caplog.at_level(logging.INFO, logger="batches.sync"):
        thread = threading.Thread(target=runportal.sync_loop, args=(stop, 0.01))
        thread.start()
        thread.join(timeout=20)
    assert not thread.is_alive()
    assert len(calls) == 2
    assert "The gate sync loop failed" in caplog.text
    assert "database went away" in caplog.text
    assert batch.gates.get(kind=GateKind.CI).last_checked_at is not None
