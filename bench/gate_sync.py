"""Benchmark: gate sync cycles against the fake provider server, and webhook-to-stored-state latency.

30 tracked PRs across 4 batches (CI, AI review, docs, deploy and observability
gates each). Prints, per cycle, the GitHub requests made and how many counted
against the rate limit (everything but a 304): cold, idle (target 0 counted),
after one check run changes (target <= 3), idle again. Then the time from a
signed webhook delivery to the gate's new state being stored (target < 2 s):
with a real `celery -A portal worker` subprocess when Redis is reachable,
otherwise eagerly in-process (and it says so).

Usage: .venv/bin/python bench/gate_sync.py [--redis-url redis://127.0.0.1:6379/1] [--rounds 5]
Runs against DATABASE_URL (default: a throwaway SQLite file).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from providers.fake import FakeProviders, example  # noqa: E402
from tests.celery_worker import CELERY_WORKER_COMMAND  # noqa: E402

REPO = "octo-org/bench"
SECRET = "bench-webhook-secret"
PRS_PER_BATCH = (8, 8, 7, 7)
ORG = "bench-org"


def reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def sha_for(number: int, version: int = 0) -> str:
    return f"{number:08x}{version:032x}"


def serve_world(fake: FakeProviders) -> None:
    """Every PR open with passing checks and an approving AI check; batch 1's PRs merged with docs."""
    number = 100
    for batch_index, count in enumerate(PRS_PER_BATCH):
        for _ in range(count):
            number += 1
            merged = batch_index == 0
            fake.github_pr(
                REPO,
                number,
                head_sha=sha_for(number),
                state="closed" if merged else "open",
                merged_at="2026-03-01T10:00:00Z" if merged else None,
                merge_commit_sha=f"{number:040x}" if merged else "",
                files=["DEPLOYMENT_STATUS.md"] if merged else [],
            )
            set_checks(fake, number, "success")
    fake.render_deploys("srv-bench", [{"status": "live", "finishedAt": "2026-03-01T12:00:00Z"}])
    fake.sentry_issues(ORG, [])
    for n in range(101, 101 + PRS_PER_BATCH[0]):
        fake.github_compare(REPO, f"{n:040x}", "59bb07278c918ac8798e2532b4251f7c34e365f5", "ahead")


def set_checks(fake: FakeProviders, number: int, conclusion: str) -> None:
    fake.github_checks(
        REPO,
        sha_for(number),
        [
            {"name": "pytest", "status": "completed", "conclusion": conclusion},
            {
                "name": "claude-review",
                "status": "completed",
                "conclusion": "success",
                "completed_at": "2026-03-01T10:05:00Z",
            },
        ],
    )


def build_plan():
    from batches.models import BatchState, GateKind, GateScope, Plan

    plan = Plan.objects.create(
        slug="bench",
        title="Bench plan",
        github_repository=REPO,
        ai_reviewer_check_name="claude-review",
        render_service_ids=["srv-bench"],
        sentry_organization=ORG,
        sentry_project="pump-station",
        sentry_environment="production",
    )
    number = 100
    for index, count in enumerate(PRS_PER_BATCH, start=1):
        batch = plan.batches.create(
            number=index, title=f"Batch {index}", target_pr_count=count, state=BatchState.IN_PROGRESS
        )
        for _ in range(count):
            number += 1
            batch.prs.create(number=number, github_number=number)
        batch.gates.create(key="ci-1", kind=GateKind.CI, label="pytest", check_name="pytest", position=0)
        batch.gates.create(
            key="ai-review-1", kind=GateKind.AI_REVIEW, label="Claude", scope=GateScope.BATCH, position=1
        )
        batch.gates.create(
            key="docs-1", kind=GateKind.DOCS, label="Docs", doc_files=["DEPLOYMENT_STATUS.md"], position=2
        )
        batch.gates.create(key="deploy-1", kind=GateKind.DEPLOY, label="Deploy", position=3)
        batch.gates.create(key="observability-1", kind=GateKind.OBSERVABILITY, label="Sentry", position=4)
    return plan


def cycle(label: str, fake: FakeProviders) -> None:
    from batches.sync import active_batches, batches_sync
    from providers.http import request_stats, reset_request_stats

    reset_request_stats()
    fake.clear_seen()
    started = time.perf_counter()
    report = batches_sync(batches=list(active_batches()))
    elapsed = time.perf_counter() - started
    stats = request_stats("GitHub")
    print(
        f"{label:34s} GitHub requests {stats.requests:4d}  counted {stats.counted:3d} "
        f"(server saw {fake.counted('/github'):3d} non-304)  304s {stats.not_modified:4d}  "
        f"gate changes {sum('→' in c for c in report.changes):3d}  errors {len(report.errors)}  {elapsed:6.3f} s"
    )


def webhook_latency(fake: FakeProviders, *, rounds: int, mode: str) -> None:
    from django.test import Client

    from batches.models import Gate, GateKind, GateState
    from providers.github_webhooks import signature_for

    client = Client(SERVER_NAME="127.0.0.1")
    number = 101 + PRS_PER_BATCH[0]  # a PR of batch 2
    gate = Gate.objects.get(batch__number=2, kind=GateKind.CI)
    template = example("github/webhook_check_run_completed.json")
    answers, totals = [], []
    for index in range(rounds + 1):  # the first round warms the worker up and is not counted
        conclusion = "failure" if index % 2 == 0 else "success"
        wanted = GateState.FAILING if conclusion == "failure" else GateState.PASSING
        set_checks(fake, number, conclusion)
        payload = json.loads(json.dumps(template))
        payload["repository"]["full_name"] = REPO
        payload["check_run"]["head_sha"] = sha_for(number)
        payload["check_run"]["pull_requests"][0]["number"] = number
        body = json.dumps(payload).encode()
        started = time.perf_counter()
        response = client.post(
            "/webhooks/github/",
            body,
            content_type="application/json",
            headers={
                "X-GitHub-Event": "check_run",
                "X-GitHub-Delivery": f"bench-{time.time_ns()}",
                "X-Hub-Signature-256": signature_for(SECRET, body),
            },
        )
        answered = time.perf_counter() - started
        assert response.status_code == 202, (response.status_code, response.content)
        deadline = started + 30
        while Gate.objects.filter(pk=gate.pk, state=wanted).count() == 0:
            if time.perf_counter() > deadline:
                raise SystemExit(f"the gate did not become {wanted} within 30 s ({mode})")
            time.sleep(0.01)
        total = time.perf_counter() - started
        if index:
            answers.append(answered)
            totals.append(total)
    print(
        f"webhook → stored gate state ({mode}, {rounds} rounds): median {statistics.median(totals):.3f} s, "
        f"max {max(totals):.3f} s; webhook answered in median {statistics.median(answers) * 1000:.1f} ms, "
        f"max {max(answers) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    fake = FakeProviders().start()
    tmp = tempfile.mkdtemp()
    use_worker = reachable(args.redis_url)
    env = {
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3"),
        "GITHUB_API_URL": fake.github_url,
        "RENDER_API_URL": fake.render_url,
        "SENTRY_URL": fake.sentry_url,
        "GITHUB_TOKEN": "ghp-bench",
        "RENDER_API_KEY": "rnd-bench",
        "SENTRY_AUTH_TOKEN": "sntrys-bench",
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "LOG_LEVEL": "WARNING",
    }
    if use_worker:
        env |= {"REDIS_URL": args.redis_url, "CELERY_BROKER_URL": args.redis_url, "CELERY_TASK_ALWAYS_EAGER": "0"}
    else:
        env |= {"CELERY_TASK_ALWAYS_EAGER": "1"}
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    serve_world(fake)
    build_plan()
    print(f"database: {connection.vendor}; {sum(PRS_PER_BATCH)} tracked PRs across {len(PRS_PER_BATCH)} batches")
    cycle("cycle 1: cold (nothing cached)", fake)
    cycle("cycle 2: idle", fake)
    cycle("cycle 3: idle", fake)
    changed = 101 + PRS_PER_BATCH[0] + 1
    set_checks(fake, changed, "failure")
    cycle("cycle 4: one check run changed", fake)
    cycle("cycle 5: idle", fake)
    set_checks(fake, changed, "success")
    cycle("cycle 6: it changed back", fake)

    worker = None
    try:
        if use_worker:
            worker = subprocess.Popen(
                CELERY_WORKER_COMMAND,
                cwd=ROOT,
                env={**os.environ},
                stdout=subprocess.DEVNULL,  # the worker's banner; its errors still reach stderr
            )
            webhook_latency(fake, rounds=args.rounds, mode=f"real worker on {args.redis_url}")
        else:
            webhook_latency(fake, rounds=args.rounds, mode="EAGER in-process: Redis not reachable, no worker")
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        fake.stop()


if __name__ == "__main__":
    main()
