"""Benchmark: pages and polls against /healthz/ at 20 connections, shipped vs production settings.

Usage: .venv/bin/python bench/production.py [--seconds 5] [--workers 3] [--changes 20]

On the generated 50-batch plan (3 PRs and 6+ gates each, batch 25 in progress,
1,000 sign-offs), served by gunicorn (sync workers, DEBUG off) on PostgreSQL
(DATABASE_URL, default postgres://postgres@127.0.0.1:5432/gatehouse_bench_production):

1. every page and every poll that finds nothing changed (a 204), with `wrk -c 20`,
   as requests/s, p50 and the cost ratio to /healthz/ (its requests/s over theirs),
   once with the embedded cache and a new connection per request (no Redis,
   DATABASE_CONN_MAX_AGE=0: the settings as shipped before) and once with the
   production recipe (kept connections, Redis: sessions, users, version readings
   and rendered pages in the cache; BENCH_REDIS_URL, default db 9, flushed first);
2. the idle cost of 200 open pages, each polling every second: the server's CPU
   seconds per 204 poll (from /proc, over the poll runs) × 200 × 60;
3. the delay from a change (a sign-off note, recorded by this process on the shared database)
   to another open page seeing it, polling every second as htmx does: p50 and p95;
4. the same pages and polls once more under ASGI (gunicorn with uvicorn workers, the
   production recipe since push), so what ASGI costs the ordinary pages is visible;
5. push (server-sent events, ASGI): the idle cost of 200 open event streams, from the
   server's CPU over ``--idle-seconds``, and the delay from a change to the `version`
   event on another open stream, and to the follow-up fetch of the live partial.

Needs `wrk` (apt-get install wrk). Loopback only; bounded by --seconds per URL.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/gatehouse_bench_production"
PAGE_TARGET, POLL_TARGET = 3.0, 1.5

_spec = importlib.util.spec_from_file_location("bench_review_page", ROOT / "bench" / "review_page.py")
review_page = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(review_page)


def clock_ticks(pids: list[int]) -> int:
    """User + system CPU ticks of the given processes and their reaped children."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total


def server_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [master, *(int(p) for p in children.read_text().split())] if children.exists() else [master]


def settle(pids: list[int], deadline: float = 60) -> None:
    """Wait until the server has finished what wrk left queued (it stops using CPU)."""
    stop = time.monotonic() + deadline
    previous = clock_ticks(pids)
    while time.monotonic() < stop:
        time.sleep(0.5)
        current = clock_ticks(pids)
        if current - previous <= 2:
            return
        previous = current


def wrk(url: str, headers: dict[str, str], seconds: float) -> tuple[float, float, int]:
    """(requests/s, p50 ms, requests) for 20 connections over ``seconds``."""
    command = ["wrk", "-t2", "-c20", f"-d{seconds:.0f}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    number, unit = re.search(r"50%\s+([\d.]+)(us|ms|s)", out).groups()
    p50 = float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    total = int(re.search(r"(\d+) requests in", out)[1])
    if "Non-2xx" in out:
        raise SystemExit(f"{url} answered errors:\n{out}")
    return rate, p50, total


def serve(env: dict[str, str], workers: int, *, asgi: bool = False) -> tuple[subprocess.Popen, str]:
    port = review_page.free_port()
    app = ["portal.asgi", "-k", "uvicorn_worker.UvicornWorker"] if asgi else ["portal.wsgi"]
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), *app, "-b", f"127.0.0.1:{port}", "-w", str(workers)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    review_page.wait_until_up(base, time.monotonic() + 30)
    return server, base


def page_version(base: str, path: str, cookie: str) -> str:
    import httpx

    html = httpx.get(base + path, cookies={"sessionid": cookie}, timeout=60).text
    return re.search(r'hx-vals=\'\{"v": "([0-9a-f]+)"\}\'', html)[1]


def measure_settings(label, env, workers, seconds, cookie, urls, *, asgi: bool = False) -> dict:
    server, base = serve(env, workers, asgi=asgi)
    results = {}
    poll_ticks = poll_requests = 0
    try:
        for name, (path, is_poll) in urls.items():
            headers = {"Cookie": f"sessionid={cookie}"}
            if is_poll:
                path = f"{path}?v={page_version(base, path, cookie)}"
                headers["HX-Request"] = "true"
            wrk(base + path, headers, 1)  # warm up
            settle(server_pids(server.pid))
            before = clock_ticks(server_pids(server.pid))
            results[name] = wrk(base + path, headers, seconds)
            settle(server_pids(server.pid))
            print(f"  {label}: {name}: {results[name][0]:.1f} req/s, p50 {results[name][1]:.1f} ms", file=sys.stderr)
            if is_poll:
                poll_ticks += clock_ticks(server_pids(server.pid)) - before
                poll_requests += results[name][2]
    finally:
        server.terminate()
        server.wait(timeout=15)
    cpu_per_poll = poll_ticks / os.sysconf("SC_CLK_TCK") / max(poll_requests, 1)
    return {"label": label, "results": results, "cpu_per_poll": cpu_per_poll}


def change_delay(env, workers, cookie, plan, changes: int) -> list[float]:
    """A sign-off note in one session; another page polls every second as htmx does."""
    import httpx

    from signoffs.models import ChecklistItem
    from signoffs.services import signoff_record

    server, base = serve(env, workers)
    path = f"/plans/{plan.slug}/batches/25/"
    item = ChecklistItem.objects.filter(gate__batch__plan=plan, gate__batch__number=25).first()
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="bench-release-manager")
    delays: list[float] = []
    pending: list[float] = []
    lock = threading.Lock()
    done = threading.Event()

    def poller():
        version = page_version(base, path, cookie)
        with httpx.Client(base_url=base, cookies={"sessionid": cookie}, headers={"HX-Request": "true"}) as client:
            time.sleep(random.random())
            while not done.is_set():
                response = client.get(path, params={"v": version})
                if response.status_code == 200:
                    version = re.search(r'"v": "([0-9a-f]+)"', response.text)[1]
                    with lock:
                        if pending:
                            delays.append(time.monotonic() - pending.pop(0))
                time.sleep(1.0)

    thread = threading.Thread(target=poller)
    thread.start()
    try:
        for n in range(changes):
            time.sleep(random.uniform(1.2, 2.2))
            signoff_record(item=item, user=user, action="note", note=f"bench change {n}")
            with lock:
                pending.append(time.monotonic())
        time.sleep(2.5)
    finally:
        done.set()
        thread.join()
        server.terminate()
        server.wait(timeout=15)
    return delays


def _versions(lines):
    """The data of each `version` event in an iterator of SSE lines."""
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "version":
            yield line[6:]
        elif not line:
            event = None


def push_idle_cost(env, workers, cookie, plan, streams: int, seconds: float) -> float:
    """Server CPU seconds per minute while ``streams`` event streams are open and nothing changes."""
    import asyncio

    import httpx

    server, base = serve(env, workers, asgi=True)
    path = f"/plans/{plan.slug}/batches/25/events/"
    opened = 0

    async def hold(client: httpx.AsyncClient, done: asyncio.Event) -> None:
        nonlocal opened
        async with client.stream("GET", path) as response:
            assert response.status_code == 200, response.status_code
            opened += 1
            async for _ in response.aiter_lines():
                if done.is_set():
                    return

    async def run() -> float:
        done = asyncio.Event()
        limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=0)
        timeout = httpx.Timeout(30, read=None)
        async with httpx.AsyncClient(base_url=base, cookies={"sessionid": cookie}, limits=limits, timeout=timeout) as c:
            tasks = [asyncio.create_task(hold(c, done)) for _ in range(streams)]
            while opened < streams:
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)  # the opening requests' work is over
            pids = server_pids(server.pid)
            before = clock_ticks(pids)
            await asyncio.sleep(seconds)
            ticks = clock_ticks(pids) - before
            done.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return ticks / os.sysconf("SC_CLK_TCK") / seconds * 60

    try:
        return asyncio.run(run())
    finally:
        server.terminate()
        server.wait(timeout=15)


def push_delay(env, workers, cookie, plan, changes: int) -> tuple[list[float], list[float]]:
    """A sign-off note in one session; another page's open stream: (to the event, to the fetched partial)."""
    import httpx
    from django.contrib.auth import get_user_model

    from signoffs.models import ChecklistItem
    from signoffs.services import signoff_record

    server, base = serve(env, workers, asgi=True)
    path = f"/plans/{plan.slug}/batches/25/"
    item = ChecklistItem.objects.filter(gate__batch__plan=plan, gate__batch__number=25).first()
    user = get_user_model().objects.get(username="bench-release-manager")
    to_event: list[float] = []
    to_partial: list[float] = []
    try:
        version = page_version(base, path, cookie)
        cookies = {"sessionid": cookie}
        timeout = httpx.Timeout(10, read=30)
        with (
            httpx.Client(base_url=base, cookies=cookies, timeout=timeout) as client,
            client.stream("GET", f"{path}events/") as stream,
        ):
            events = _versions(stream.iter_lines())
            assert next(events) == version  # the first event is the version now
            for n in range(changes):
                time.sleep(random.uniform(0.3, 0.8))
                signoff_record(item=item, user=user, action="note", note=f"bench push change {n}")
                changed = time.monotonic()
                new = next(events)
                to_event.append(time.monotonic() - changed)
                # What the page does on the event: fetch its live partial with the version it shows.
                response = client.get(path, params={"v": version}, headers={"HX-Request": "true"})
                assert response.status_code == 200, response.status_code
                to_partial.append(time.monotonic() - changed)
                version = new
    finally:
        server.terminate()
        server.wait(timeout=15)
    return to_event, to_partial


def percentiles(delays: list[float]) -> tuple[float, float]:
    ordered = sorted(delays)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5, help="wrk duration per URL")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--streams", type=int, default=200, help="open event streams for the idle cost of push")
    parser.add_argument("--idle-seconds", type=float, default=20, help="how long the idle streams are measured")
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
        "LOG_LEVEL": "WARNING",
        "PORTAL_BASE_URL": "http://127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    env.pop("DATABASE_CONN_MAX_AGE", None)
    # The production recipe has Redis (the cache: sessions, users, versions, rendered pages).
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
    env["REDIS_URL"] = redis_url
    review_page.ensure_database(env["DATABASE_URL"])
    os.environ.update(env)
    import django

    django.setup()
    import redis
    from django.core.management import call_command

    redis.Redis.from_url(redis_url).flushdb()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)
    plan, user = review_page.load_plan()
    cookie = review_page.session_cookie(user)
    urls = {
        "/healthz/ (trivial view)": ("/healthz/", False),
        "review poll, unchanged (204)": (f"/plans/{plan.slug}/batches/25/", True),
        "overview poll, unchanged (204)": (f"/plans/{plan.slug}/", True),
        "review page, batch 25": (f"/plans/{plan.slug}/batches/25/", False),
        "plan overview, 50 batches": (f"/plans/{plan.slug}/", False),
        "presenting mode, batch 25": (f"/plans/{plan.slug}/batches/25/present/", False),
        "roadmap, 50 batches": (f"/plans/{plan.slug}/roadmap/", False),
        "metrics page": (f"/plans/{plan.slug}/metrics/", False),
    }
    runs = [
        measure_settings(
            "no Redis, CONN_MAX_AGE=0",
            {**{k: v for k, v in env.items() if k != "REDIS_URL"}, "DATABASE_CONN_MAX_AGE": "0"},
            args.workers,
            args.seconds,
            cookie,
            urls,
        ),
        measure_settings("production (kept conns, Redis)", env, args.workers, args.seconds, cookie, urls),
        measure_settings("production, ASGI (uvicorn)", env, args.workers, args.seconds, cookie, urls, asgi=True),
    ]
    delays = sorted(change_delay(env, args.workers, cookie, plan, args.changes))
    push_idle = push_idle_cost(env, args.workers, cookie, plan, args.streams, args.idle_seconds)
    push_to_event, push_to_partial = push_delay(env, args.workers, cookie, plan, args.changes)

    print(
        f"gunicorn -w {args.workers} (sync, and uvicorn workers for ASGI), PostgreSQL, DEBUG=false; "
        f"wrk -t2 -c20 -d{args.seconds:.0f}s per URL"
    )
    print(f"plan: 50 batches, batch 25 in progress, 1,000 sign-offs; machine: {os.cpu_count()} cores (shared)")
    header = f"{'':32s}" + "".join(f"{r['label']:>44s}" for r in runs)
    print(header)
    print(f"{'':32s}" + "".join(f"{'req/s':>14s}{'p50 ms':>10s}{'cost ×':>10s}{'':>10s}" for _ in runs))
    over = []
    for name, (_, is_poll) in urls.items():
        line = f"{name:32s}"
        for run in runs:
            rate, p50, _ = run["results"][name]
            trivial = run["results"]["/healthz/ (trivial view)"][0]
            ratio = trivial / rate if rate else float("inf")
            target = POLL_TARGET if is_poll else PAGE_TARGET
            mark = "" if name.startswith("/healthz/") else ("ok" if ratio <= target else f"> {target:g}×")
            if mark.startswith(">") and run is runs[-1]:
                over.append(name)
            line += f"{rate:14.1f}{p50:10.1f}{ratio:10.2f}{mark:>10s}"
        print(line)
    for run in runs:
        idle = run["cpu_per_poll"] * 200 * 60
        print(
            f"idle cost of 200 open pages polling ({run['label']}): {run['cpu_per_poll'] * 1000:.2f} ms CPU per "
            f"204 poll, {idle:.1f} CPU s/min ({idle / 60:.0%} of one core; target < 20%)"
        )
    print(
        f"idle cost of {args.streams} open pages on push (ASGI, {args.idle_seconds:.0f} s of open event streams): "
        f"{push_idle:.1f} CPU s/min ({push_idle / 60:.0%} of one core; target < 20%)"
    )
    if delays:
        p50, p95 = percentiles(delays)
        print(
            f"change → visible on another open page (polling every 1 s, the fallback), {len(delays)} changes: "
            f"p50 {p50:.2f} s, p95 {p95:.2f} s (target p95 ≤ 1 s)"
        )
    if push_to_event:
        p50, p95 = percentiles(push_to_event)
        f50, f95 = percentiles(push_to_partial)
        print(
            f"change → `version` event on another open stream (push), {len(push_to_event)} changes: "
            f"p50 {p50:.2f} s, p95 {p95:.2f} s; with the live partial fetched: p50 {f50:.2f} s, p95 {f95:.2f} s "
            f"(target p95 ≤ 1 s)"
        )
    if over:
        print("OVER TARGET: " + ", ".join(over))


if __name__ == "__main__":
    main()
