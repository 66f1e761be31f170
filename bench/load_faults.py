"""Load and fault run: the production recipe under 50 users, then with Redis and PostgreSQL stopped mid-run.

Usage: .venv/bin/python bench/load_faults.py [--users 50] [--seconds 60] [--faults] [--max-requests 60000]
                                            [--think 0.05-0.3]

Starts its OWN PostgreSQL (initdb into a temporary folder, on a free loopback port) and its own
Redis (also a free port), never the machine's shared ones; the fake GitHub/Render/Sentry on loopback;
then the Procfile's web process (gunicorn with uvicorn workers), a Celery worker and Celery beat with
DEBUG off. On a plan of 50 batches (batch 25 in progress, its PRs linked to the fake GitHub)
``--users`` client threads each sign in as their own engineer and, for ``--seconds``, do 70% page
views (the review page, the plan overview), 20% htmx polls and 10% ticks/unticks of their own
checklist item; beside them one thread sends signed
``pull_request`` webhooks at 5 a second. Prints requests/s, p50/p95/p99 (all requests and the review
page) and responses by status, then checks that every accepted tick is in the database exactly once
and every accepted webhook delivery was processed exactly once (waiting up to 60 s for the worker).

With ``--faults`` it also stops Redis for 10 s (at 30% of the run) and PostgreSQL for 10 s (at 60%),
and prints how long after each came back the first good answer took (a signed-in review page for
PostgreSQL, which needs the database; the webhook outbox drained for Redis), the answers given while
each was down, and the last failed answer after it came back. Bounded: ``--seconds``,
``--max-requests``; loopback only.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import hmac
import json
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REPO = "bench-org/bench"
WEBHOOK_SECRET = "bench-" + secrets.token_hex(8)
PASSWORD = "bench-password-" + secrets.token_hex(4)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        raise SystemExit(f"PostgreSQL's {name} is not installed under /usr/lib/postgresql")
    return str(found[-1])


class Postgres:
    """A throwaway cluster: initdb'd into a temporary folder, trust auth, loopback only."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.data = root / "pg"
        self.sockets = root / "pg-sockets"
        self.sockets.mkdir()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root; run the cluster as the postgres user
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(root, "postgres")
            shutil.chown(self.sockets, "postgres")
        subprocess.run(
            [*self.as_user, pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
        )
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/gatehouse"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(
            [
                *self.as_user,
                pg_bin("pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-w",
                "-l",
                str(self.data.parent / "pg.log"),
                "start",
            ],
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"], capture_output=True
        )


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def bench_plan(batches: int = 50) -> str:
    lines = ["# Load plan", "", "## Guiding Principles", "1. **Small** – Keep each batch <= 3 deployable PRs.", ""]
    for number in range(1, batches + 1):
        lines += [
            f"## Batch {number} – Load batch {number} (Target: 3 PRs)",
            "- **Goals**",
            "  - Ship it.",
            "- **Key Tasks**",
        ]
        lines += [f"  - Work on part {p} (PR #{3 * (number - 1) + p})." for p in (1, 2, 3)]
        lines += ["- **Readiness Gates**", "  - CI: `make test`."]
        lines += [f"  - Manual: Engineer confirms check {c} of batch {number}." for c in range(1, 11)]
        lines.append("")
    return "\n".join(lines)


def setup(users: int, fake) -> tuple[str, list[int], list[int], list[str]]:
    """Migrate, import the plan, start batch 25 through its lifecycle, link its PRs; the users."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from batches.models import BatchState, PlannedPR
    from batches.plan_import import plan_import
    from signoffs.models import ChecklistItem

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)
    plan = plan_import(source=bench_plan(), slug="load", source_name="load.md").plan
    plan.github_repository = REPO
    plan.save(update_fields=["github_repository"])
    # Earlier batches count as delivered for the cadence; the bench measures load, not the lifecycle.
    plan.batches.filter(number__lt=25).update(state=BatchState.APPROVED)
    plan.batches.filter(number=25).update(state=BatchState.IN_PROGRESS)
    prs = list(PlannedPR.objects.filter(batch__plan=plan, batch__number=25).order_by("number"))
    for pr in prs:
        fake.github_pr(REPO, pr.number, head_sha=hashlib.sha1(str(pr.number).encode()).hexdigest())
        PlannedPR.objects.filter(pk=pr.pk).update(
            github_repository=REPO, github_number=pr.number, github_url=f"https://github.com/{REPO}/pull/{pr.number}"
        )
    items = list(
        ChecklistItem.objects.filter(gate__batch__plan=plan, gate__batch__number=25, evidence_required=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    from django.test import Client

    engineers = Group.objects.get(name="engineer")
    sessions = []
    for n in range(users):
        user = get_user_model().objects.create_user(f"load-{n}", password=PASSWORD)
        user.groups.add(engineers)
        # Signed in directly: 50 password hashes at once would measure PBKDF2, not the portal.
        client = Client()
        client.force_login(user)
        sessions.append(client.cookies["sessionid"].value)
    return plan.slug, items, [pr.number for pr in prs], sessions


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.timings: dict[str, list[float]] = collections.defaultdict(list)
        self.statuses: collections.Counter = collections.Counter()
        self.ticks: collections.Counter = collections.Counter()  # accepted, by user
        # No answer in time, or a 5xx (the database went away between the commit and the answer): unknown.
        self.tick_unknown: collections.Counter = collections.Counter()
        self.webhooks: list[str] = []
        self.good_after: dict[str, float] = {}
        self.requests = 0
        self.events: list[tuple[float, str, int]] = []  # (when it was answered, kind, status)

    def record(self, kind: str, status: int, elapsed: float) -> None:
        with self.lock:
            self.requests += 1
            self.timings[kind].append(elapsed)
            self.statuses[status] += 1
            self.events.append((time.monotonic(), kind, status))


class Browser:
    """A signed-in user's cookies over plain-http loopback.

    Production cookies are Secure (the portal is served over https), so an HTTP client would
    keep them but never send them to http://127.0.0.1: this sends them by hand.
    """

    def __init__(self, base: str) -> None:
        import httpx

        self.client = httpx.Client(base_url=base, timeout=15, follow_redirects=False)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, url: str, **kwargs):
        headers = {**kwargs.pop("headers", {}), "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        response = self.client.request(method, url, headers=headers, **kwargs)
        for cookie in response.cookies.jar:
            self.cookies[cookie.name] = cookie.value or ""
        return response

    def close(self) -> None:
        self.client.close()


def user_loop(
    n: int,
    base: str,
    slug: str,
    item: int,
    session: str,
    rec: Recorder,
    stop: threading.Event,
    limit: int,
    think: tuple[float, float],
) -> None:
    import httpx

    browser = Browser(base)
    browser.cookies["sessionid"] = session
    try:
        review, overview = f"/plans/{slug}/batches/25/", f"/plans/{slug}/"
        browser.request("GET", review)  # the CSRF cookie, as a browser gets it with its first page
        ticked = False
        rng = random.Random(n)
        while not stop.is_set() and rec.requests < limit:
            roll = rng.random()
            start = time.perf_counter()
            try:
                if roll < 0.7:
                    kind, url = ("review", review) if rng.random() < 0.6 else ("overview", overview)
                    status = browser.request("GET", url).status_code
                elif roll < 0.9:
                    kind = "poll"
                    status = browser.request("GET", review, headers={"HX-Request": "true"}).status_code
                else:
                    kind = "tick"
                    action = "untick" if ticked else "tick"
                    # As htmx sends it: 200 and the item's row when recorded, 422 with the reason when refused.
                    try:
                        status = browser.request(
                            "POST",
                            f"/items/{item}/signoff/",
                            data={"action": action, "note": "load"},
                            headers={"X-CSRFToken": browser.cookies.get("csrftoken", ""), "HX-Request": "true"},
                        ).status_code
                    except httpx.TimeoutException:
                        # No answer in time: the server may or may not have recorded it.
                        with rec.lock:
                            rec.tick_unknown[n] += 1
                        raise
                    if status >= 500:
                        with rec.lock:
                            rec.tick_unknown[n] += 1
                    if status == 200:
                        ticked = not ticked
                        with rec.lock:
                            rec.ticks[n] += 1
            except httpx.HTTPError:
                kind, status = "error", 0
            rec.record(kind, status, time.perf_counter() - start)
            time.sleep(rng.uniform(*think))  # between one answer and the next request
    finally:
        browser.close()


def webhook_loop(base: str, numbers: list[int], rec: Recorder, stop: threading.Event) -> None:
    import httpx

    from providers.fake import example

    template = example("github/webhook_pull_request_opened.json")
    template["repository"]["full_name"] = REPO
    with httpx.Client(base_url=base, timeout=15) as client:
        while not stop.is_set():
            payload = json.loads(json.dumps(template))
            payload["number"] = payload["pull_request"]["number"] = random.choice(numbers)
            body = json.dumps(payload).encode()
            delivery = str(uuid.uuid4())
            signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
            start = time.perf_counter()
            try:
                status = client.post(
                    "/webhooks/github/",
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-GitHub-Event": "pull_request",
                        "X-GitHub-Delivery": delivery,
                        "X-Hub-Signature-256": signature,
                    },
                ).status_code
            except httpx.HTTPError:
                status = 0
            rec.record("webhook", status, time.perf_counter() - start)
            if status == 202:
                with rec.lock:
                    rec.webhooks.append(delivery)
            stop.wait(0.2)


def run_faults(
    seconds: float,
    started: float,
    pg: Postgres,
    redis: Redis,
    base: str,
    rec: Recorder,
    outages: list,
    probe_url: str,
    probe_session: str,
) -> None:
    """Redis down for 10 s at 30% of the run, PostgreSQL down for 10 s at 60%; measure each recovery."""
    import httpx
    from django.db import close_old_connections

    from batches.models import WebhookDelivery

    time.sleep(max(0.0, started + seconds * 0.3 - time.monotonic()))
    down = time.monotonic()
    redis.stop()
    time.sleep(10)
    redis.start()
    back = time.monotonic()
    outages.append(("Redis", down, back))
    # Recovered once every delivery accepted while Redis was down has been processed (the outbox drained).
    with rec.lock:
        during = list(rec.webhooks)
    while time.monotonic() - back < 60:
        close_old_connections()
        if not WebhookDelivery.objects.filter(delivery_id__in=during, processed_at__isnull=True).exists():
            rec.good_after["Redis (webhook outbox drained)"] = time.monotonic() - back
            break
        time.sleep(0.25)
    close_old_connections()
    time.sleep(max(0.0, started + seconds * 0.6 - time.monotonic()))
    down = time.monotonic()
    pg.stop()
    time.sleep(10)
    pg.start()
    back = time.monotonic()
    outages.append(("PostgreSQL", down, back))
    # A page that needs the database (the session, then the page's own queries): /login/ answers 200
    # with PostgreSQL down, so it only measured how long the probe queued behind the other users.
    with httpx.Client(base_url=base, timeout=5, cookies={"sessionid": probe_session}) as probe:
        while time.monotonic() - back < 30:
            try:
                if probe.get(probe_url).status_code == 200:
                    rec.good_after["PostgreSQL (first good page)"] = time.monotonic() - back
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--faults", action="store_true", help="stop Redis, then PostgreSQL, for 10 s each")
    parser.add_argument("--max-requests", type=int, default=60_000)
    parser.add_argument("--workers", type=int, default=3, help="web processes (the Procfile's WEB_CONCURRENCY)")
    parser.add_argument(
        "--think",
        default="0.05-0.3",
        help="seconds each user waits between an answer and its next request, MIN-MAX (default 0.05-0.3: "
        "a stress pace, about 250 requests/s offered by 50 users; 0.5-1.5 is one request a second per "
        "user, the pace of an open page's own poll)",
    )
    args = parser.parse_args()
    low, _, high = args.think.partition("-")
    think = (float(low), float(high or low))

    root = Path(tempfile.mkdtemp(prefix="gatehouse-load-"))
    os.chmod(root, 0o755)
    pg, redis = Postgres(root), Redis()
    pg.start()
    redis.start()
    subprocess.run(
        [pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "gatehouse"], check=True
    )
    from providers.fake import FakeProviders

    fake = FakeProviders().start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "PORTAL_BASE_URL": base,
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": pg.url,
        "DATABASE_CONN_MAX_AGE": "60",
        "REDIS_URL": redis.url,
        "GATEHOUSE_VAR_DIR": str(root / "var"),
        "LOG_LEVEL": "ERROR",
        "GITHUB_API_URL": fake.github_url,
        "GITHUB_WEB_URL": "https://github.com",
        "GITHUB_TOKEN": "ghp-load",
        "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "RENDER_API_URL": fake.render_url,
        "SENTRY_URL": fake.sentry_url,
        "GATE_SYNC_INTERVAL_SECONDS": "15",
        "LOGIN_FAILURE_LIMIT": "1000",
    }
    os.environ.update(env)
    import django

    django.setup()
    slug, items, numbers, sessions = setup(args.users, fake)
    from django.db import connections

    connections.close_all()

    bin_dir = Path(sys.executable).parent
    logs = root / "logs"
    logs.mkdir()
    procs = [
        subprocess.Popen(
            [
                # The Procfile's web process: sync views in WEB_THREADS threads, event streams async.
                str(bin_dir / "gunicorn"),
                "portal.asgi",
                "--worker-class",
                "uvicorn_worker.UvicornWorker",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                str(args.workers),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(logs / "gunicorn.log", "w"),
        ),
        subprocess.Popen(
            [
                str(bin_dir / "celery"),
                "-A",
                "portal",
                "worker",
                "-c",
                "2",
                "--loglevel",
                "WARNING",
                # Gossip and mingle talk to the other workers over the broker; with Redis gone their
                # reconnection fails and takes the worker down (kombu: "no attribute 'hostname'").
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(logs / "worker.log", "w"),
        ),
        subprocess.Popen(
            [
                str(bin_dir / "celery"),
                "-A",
                "portal",
                "beat",
                "--loglevel",
                "WARNING",
                "-s",
                str(root / "beat-schedule"),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(logs / "beat.log", "w"),
        ),
    ]
    rec = Recorder()
    stop = threading.Event()
    outages: list[tuple[str, float, float]] = []
    try:
        import httpx

        for _ in range(100):
            try:
                httpx.get(base + "/login/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        threads = [
            threading.Thread(
                target=user_loop,
                args=(n, base, slug, items[n % len(items)], sessions[n], rec, stop, args.max_requests, think),
                daemon=True,
            )
            for n in range(args.users)
        ]
        threads.append(threading.Thread(target=webhook_loop, args=(base, numbers, rec, stop), daemon=True))
        started = time.monotonic()
        for thread in threads:
            thread.start()
        if args.faults:
            run_faults(args.seconds, started, pg, redis, base, rec, outages, f"/plans/{slug}/batches/25/", sessions[-1])
        time.sleep(max(0.0, started + args.seconds - time.monotonic()))
        stop.set()
        for thread in threads:
            thread.join(timeout=20)
        wall = time.monotonic() - started

        # Exactly once: every accepted tick is one row; every accepted webhook processed once.
        from django.contrib.auth import get_user_model

        from batches.models import WebhookDelivery
        from signoffs.models import SignOff

        deadline = time.monotonic() + 60
        accepted = set(rec.webhooks)
        while True:
            processed = WebhookDelivery.objects.filter(delivery_id__in=accepted, processed_at__isnull=False).count()
            if processed == len(accepted) or time.monotonic() > deadline:
                break
            time.sleep(1)
        recorded = WebhookDelivery.objects.filter(delivery_id__in=accepted).count()
        users = {
            u.pk: int(u.username.split("-")[1]) for u in get_user_model().objects.filter(username__startswith="load-")
        }
        tick_rows = collections.Counter(
            users[uid]
            for uid in SignOff.objects.filter(user_id__in=users, note="load").values_list("user_id", flat=True)
        )
    finally:
        stop.set()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        fake.stop()
        from django.db import connections

        connections.close_all()
        redis.stop()
        pg.stop()
        shutil.rmtree(root / "pg", ignore_errors=True)

    every = [t for values in rec.timings.values() for t in values]
    print(
        f"{'fault run' if args.faults else 'load run'}: {args.users} users (think {args.think} s), {wall:.0f} s, "
        f"gunicorn portal.asgi -w {args.workers} (uvicorn workers, WEB_THREADS 4), "
        "worker -c 2 --without-gossip --without-mingle, beat; own PostgreSQL and Redis on loopback"
    )
    print(f"requests: {len(every)}, {len(every) / wall:.1f} req/s")
    print(f"{'':10s} {'count':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s}")
    for kind in ["all", *sorted(rec.timings)]:
        values = every if kind == "all" else rec.timings[kind]
        print(
            f"{kind:10s} {len(values):7d} {statistics.median(values) * 1000 if values else 0:8.1f} "
            f"{percentile(values, 0.95):8.1f} {percentile(values, 0.99):8.1f}"
        )
    print("responses by status:", dict(sorted(rec.statuses.items())))
    # A tick whose answer timed out or was a 5xx may or may not be recorded: a user's rows must lie
    # between their accepted ticks and accepted + unknown. Outside that, a tick was lost or duplicated.
    lost_ticks = {
        n: (rec.ticks[n], rec.tick_unknown[n], tick_rows[n])
        for n in set(rec.ticks) | set(tick_rows)
        if not rec.ticks[n] <= tick_rows[n] <= rec.ticks[n] + rec.tick_unknown[n]
    }
    print(
        f"ticks accepted: {sum(rec.ticks.values())}, unknown (timed out or 5xx): {sum(rec.tick_unknown.values())}, "
        f"rows: {sum(tick_rows.values())}, "
        f"mismatched users: {len(lost_ticks)} {lost_ticks if lost_ticks else ''}"
    )
    print(f"webhooks accepted: {len(accepted)}, recorded: {recorded}, processed once: {processed}")
    for name, recovered in rec.good_after.items():
        print(f"recovery: {name} {recovered:.1f} s after it came back")
    # What the users saw: answers by status while each service was down, and the last failed answer
    # (a 5xx or no answer) after it came back, however many users were asking.
    for index, (name, down, back) in enumerate(outages):
        until = outages[index + 1][1] if index + 1 < len(outages) else float("inf")  # the next outage
        during = collections.Counter(status for at, _, status in rec.events if down <= at < back)
        failed_after = [
            at - back for at, _, status in rec.events if back <= at < until and (status >= 500 or status == 0)
        ]
        last = f"{max(failed_after):.1f} s after it came back" if failed_after else "none after it came back"
        print(
            f"{name} down {back - down:.0f} s: answers while down {dict(sorted(during.items()))}; last failure {last}"
        )
    print(f"logs: {logs}")


if __name__ == "__main__":
    main()
