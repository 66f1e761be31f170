"""Benchmark: the batch review page, the API's batch status endpoint, the roadmap and the metrics
page against a trivial view, served by gunicorn on PostgreSQL.

Usage: .venv/bin/python bench/review_page.py [--requests 300] [--concurrency 4] [--seconds 60]

Creates (if missing) and migrates the DATABASE_URL database (default
postgres://postgres@127.0.0.1:5432/gatehouse_bench), imports a generated plan of
50 batches × 3 PRs with 1,000 sign-offs, starts gunicorn on a free loopback
port with DEBUG off, signs in one release manager (session cookie, and a personal
API token for the status endpoint) and requests the review page of the batch in
progress, its status endpoint (/api/…/status), the plan's roadmap, the plan's metrics
page (/plans/…/metrics/, its 24 approved batches' metrics computed first), the
stakeholder review page of a batch with an open review session (/…/review/) and
/healthz/ in turn from a few client threads. Prints p50/p95 latency, requests/s, the
ratios to the trivial view, and the status endpoint's, the roadmap's, the metrics
page's and the review session page's query counts on the 50-batch plan and on a
3-batch one. /healthz/ is the trivial view the issue
measures against: public, no database, the cost of the middleware alone; so the ratios
are the pages' own cost.
Bounded in count (--requests per URL) and time (--seconds); loopback only.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/gatehouse_bench"
TARGET_RATIO = 3.0


def ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_plan():
    """The 50-batch plan, batch 25 in progress, 1,000 sign-offs; returns (plan, user)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from batches.models import BatchState, Gate, GateState
    from batches.plan_import import plan_import
    from signoffs.models import ChecklistItem, SignOff

    spec = importlib.util.spec_from_file_location("bench_import_plan", ROOT / "bench" / "import_plan.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    plan = plan_import(source=generator.generated_plan(50), slug="bench-review", source_name="bench").plan
    user, _ = get_user_model().objects.get_or_create(username="bench-release-manager")
    user.groups.add(Group.objects.get(name="release_manager"))
    plan.batches.filter(number__lt=25).update(state=BatchState.APPROVED)
    plan.batches.filter(number=25).update(state=BatchState.IN_PROGRESS)
    dated(plan, current=25)
    Gate.objects.filter(batch__plan=plan, batch__number__lt=25).update(state=GateState.PASSING)
    items = list(ChecklistItem.objects.filter(gate__batch__plan=plan).order_by("pk"))
    SignOff.objects.filter(item__in=items).delete()
    events, sequences = [], {}
    for n in range(1000):
        item = items[n % len(items)]
        sequence = sequences[item.pk] = sequences.get(item.pk, 0) + 1
        action = SignOff.Action.TICK if sequence % 2 else SignOff.Action.UNTICK
        events.append(SignOff(item=item, sequence=sequence, action=action, user=user, note=f"bench {n}"))
    SignOff.objects.bulk_create(events)
    from metrics.services import plan_metrics_recompute

    plan_metrics_recompute(plan=plan)  # no provider is configured: lifecycle, gate history, notes
    return plan, user


def dated(plan, *, current: int) -> None:
    """Give the batches before ``current`` start, ready and approved dates a few days apart, and ``current`` a start,
    so the roadmap draws a full timeline (the benchmark writes its fixture directly, like the states above)."""
    from datetime import timedelta

    from django.utils import timezone

    from batches.models import Batch

    now = timezone.now()
    batches = list(plan.batches.filter(number__lte=current).order_by("number"))
    for batch in batches:
        batch.started_at = now - timedelta(days=3 * (current - batch.number) + 3)
        if batch.number < current:
            batch.ready_at = batch.started_at + timedelta(days=2)
            batch.approved_at = batch.started_at + timedelta(days=3)
    Batch.objects.bulk_update(batches, ["started_at", "ready_at", "approved_at"])


def page_queries(user, urls: list[str]) -> list[int]:
    """Queries one page request costs for a signed-in user, per URL."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    counts = []
    for url in urls:
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    return counts


def api_token(user) -> str:
    from tokens.services import token_create

    return token_create(user=user, name=f"bench {time.time():.0f}")[1]


def status_queries(user, slugs_and_numbers: list[tuple[str, int]]) -> list[int]:
    """Queries one status request costs (after a first, which writes the token's last use), per batch."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    raw = api_token(user)
    client = Client(headers={"Authorization": f"Bearer {raw}"}, HTTP_HOST="127.0.0.1")
    counts = []
    for slug, number in slugs_and_numbers:
        url = f"/api/plans/{slug}/batches/{number}/status"
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    return counts


def open_review(plan, user, number: int) -> str:
    """Batch ``number`` ready for review with a review open: the plan's checklist, three attendees, half of it
    confirmed. Returns the review page's path. (Setup only: the batch's state is written, as above.)"""
    from batches.models import BatchState
    from reviews.checklist import checklist_import
    from reviews.services import ReviewError, checklist_items_for, review_attendee_add, review_confirm, review_open

    plan.batches.filter(number=number).update(state=BatchState.READY_FOR_REVIEW)
    guide = ROOT / "docs" / "PRODUCTION_DEPLOYMENT_GUIDE.md"
    checklist_import(plan=plan, source=guide.read_bytes(), source_name=guide.name, by=user)
    batch = plan.batches.get(number=number)
    session = review_open(batch=batch, by=user)
    for name in ("Priya Raman", "Sam Ops", "Dana QA"):
        try:
            review_attendee_add(session=session, by=user, name=name)
        except ReviewError:
            pass  # a re-run: already there
    seats = list(session.attendees.all())
    items = checklist_items_for(batch)
    for n, item in enumerate(items[: len(items) // 2]):
        try:
            review_confirm(session=session, item=item, attendee=seats[n % len(seats)], note="bench", by=user)
        except ReviewError:
            pass
    return f"/plans/{plan.slug}/batches/{number}/review/"


def session_cookie(user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def small_plan(user):
    """A 3-batch plan beside the big one, to show the status endpoint's query count does not grow."""
    from batches.models import BatchState
    from batches.plan_import import plan_import

    spec = importlib.util.spec_from_file_location("bench_import_plan", ROOT / "bench" / "import_plan.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    plan = plan_import(source=generator.generated_plan(3), slug="bench-review-small", source_name="bench").plan
    plan.batches.filter(number=1).update(state=BatchState.APPROVED)
    plan.batches.filter(number=2).update(state=BatchState.IN_PROGRESS)
    dated(plan, current=2)
    from metrics.services import plan_metrics_recompute

    plan_metrics_recompute(plan=plan)
    return plan


def wait_until_up(base: str, deadline: float) -> None:
    import httpx

    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/login/", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start in time")


def measure(
    base: str, cookie: str, urls: dict[str, str], per_url: int, concurrency: int, seconds: float, token: str = ""
):
    """Each thread alternates between the URLs, so both see the same server conditions."""
    import httpx

    timings: dict[str, list[float]] = {name: [] for name in urls}
    lock = threading.Lock()
    budget = {name: per_url for name in urls}
    stop_at = time.monotonic() + seconds

    def worker():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(base_url=base, cookies={"sessionid": cookie}, headers=headers, timeout=10) as client:
            while time.monotonic() < stop_at:
                progressed = False
                for name, url in urls.items():
                    with lock:
                        if budget[name] <= 0:
                            continue
                        budget[name] -= 1
                    start = time.perf_counter()
                    response = client.get(url)
                    elapsed = time.perf_counter() - start
                    if response.status_code != 200:
                        raise SystemExit(f"{url} answered {response.status_code}")
                    with lock:
                        timings[name].append(elapsed)
                    progressed = True
                if not progressed:
                    return

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return timings, wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300, help="requests per URL (after warm-up)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--seconds", type=float, default=60, help="stop measuring after this long")
    args = parser.parse_args()

    var = tempfile.mkdtemp(prefix="gatehouse-bench-")
    env = {
        **os.environ,
        "DATABASE_URL": os.environ.get("DATABASE_URL", DEFAULT_DB),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "GATEHOUSE_VAR_DIR": var,
        "DATABASE_CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
        "PORTAL_BASE_URL": "http://127.0.0.1",
        # The benchmark's one token makes thousands of requests a minute on purpose.
        "API_RATE_LIMIT_PER_MINUTE": "1000000",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    env.pop("REDIS_URL", None)  # the pages do not need the cache or broker
    ensure_database(env["DATABASE_URL"])
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)
    plan, user = load_plan()
    cookie = session_cookie(user)
    token = api_token(user)
    review_url = f"/plans/{plan.slug}/batches/25/"
    status_url = f"/api/plans/{plan.slug}/batches/25/status"
    session_url = open_review(plan, user, 26)
    roadmap_url = f"/plans/{plan.slug}/roadmap/"
    metrics_url = f"/plans/{plan.slug}/metrics/"
    urls = {
        "review page": review_url,
        "batch status": status_url,
        "roadmap": roadmap_url,
        "metrics page": metrics_url,
        "review session": session_url,
        "trivial view": "/healthz/",
    }
    small = small_plan(user)
    queries = status_queries(user, [(plan.slug, 25), (small.slug, 2)])
    roadmap_queries = page_queries(user, [roadmap_url, f"/plans/{small.slug}/roadmap/"])
    metrics_queries = page_queries(user, [metrics_url, f"/plans/{small.slug}/metrics/"])
    session_queries = page_queries(user, [session_url, open_review(small, user, 3)])

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "portal.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(args.workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_up(base, time.monotonic() + 20)
        measure(base, cookie, urls, per_url=10 * args.workers, concurrency=args.concurrency, seconds=20, token=token)
        timings, wall = measure(base, cookie, urls, args.requests, args.concurrency, args.seconds, token=token)
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(f"database: PostgreSQL ({urlparse(env['DATABASE_URL']).path.lstrip('/')}), gunicorn -w {args.workers}, ")
    print(f"{args.concurrency} client threads alternating URLs, plan of 50 batches × 3 PRs, 1,000 sign-offs")
    print(f"{'':14s} {'requests':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'req/s':>8s}")
    stats = {}
    for name, values in timings.items():
        values.sort()
        p50 = statistics.median(values) * 1000
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))] * 1000
        # Each URL had about half the wall time: its share of the server's work.
        busy = sum(values) / args.concurrency
        rate = len(values) / busy if busy else 0.0
        stats[name] = (p50, p95, rate)
        print(f"{name:14s} {len(values):8d} {p50:8.2f} {p95:8.2f} {rate:8.1f}")
    print(f"wall time {wall:.1f} s, {sum(len(v) for v in timings.values()) / wall:.1f} req/s combined")
    ratio = stats["review page"][0] / stats["trivial view"][0]
    print(f"review page / trivial view (p50): {ratio:.2f}× (target ≤ {TARGET_RATIO:.0f}×)")
    print(f"review page / trivial view (p95): {stats['review page'][1] / stats['trivial view'][1]:.2f}×")
    print(f"trivial view / review page (req/s): {stats['trivial view'][2] / stats['review page'][2]:.2f}×")
    status_ratio = stats["batch status"][0] / stats["trivial view"][0]
    print(f"batch status / trivial view (p50): {status_ratio:.2f}× (target ≤ {TARGET_RATIO:.0f}×)")
    print(f"batch status / trivial view (p95): {stats['batch status'][1] / stats['trivial view'][1]:.2f}×")
    print(f"batch status queries: {queries[0]} (batch 25 of 50), {queries[1]} (batch 2 of 3)")
    roadmap_ratio = stats["roadmap"][0] / stats["trivial view"][0]
    print(f"roadmap / trivial view (p50): {roadmap_ratio:.2f}× (target ≤ {TARGET_RATIO:.0f}×)")
    print(f"roadmap / trivial view (p95): {stats['roadmap'][1] / stats['trivial view'][1]:.2f}×")
    print(f"roadmap queries: {roadmap_queries[0]} (50 batches), {roadmap_queries[1]} (3 batches)")
    metrics_ratio = stats["metrics page"][0] / stats["trivial view"][0]
    print(f"metrics page / trivial view (p50): {metrics_ratio:.2f}× (target ≤ {TARGET_RATIO:.0f}×)")
    print(f"metrics page / trivial view (p95): {stats['metrics page'][1] / stats['trivial view'][1]:.2f}×")
    print(f"metrics page queries: {metrics_queries[0]} (50 batches), {metrics_queries[1]} (3 batches)")
    session_ratio = stats["review session"][0] / stats["trivial view"][0]
    print(f"review session / trivial view (p50): {session_ratio:.2f}× (target ≤ {TARGET_RATIO:.0f}×)")
    print(f"review session queries: {session_queries[0]} (batch 26 of 50), {session_queries[1]} (batch 3 of 3)")
    if (
        ratio > TARGET_RATIO
        or status_ratio > TARGET_RATIO
        or roadmap_ratio > TARGET_RATIO
        or metrics_ratio > TARGET_RATIO
        or session_ratio > TARGET_RATIO
        or queries[0] != queries[1]
        or roadmap_queries[0] != roadmap_queries[1]
        or metrics_queries[0] != metrics_queries[1]
        or session_queries[0] != session_queries[1]
    ):
        print("OVER TARGET")


if __name__ == "__main__":
    main()
