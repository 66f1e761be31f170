"""Boot the production recipe on loopback and smoke-test it: `make prod-check`.

Runs exactly the Procfile's processes (web: gunicorn, worker and beat: Celery) with
DEBUG=false against a PostgreSQL database of its own on 127.0.0.1:5432 (created, then
dropped) and Redis database 15 on 127.0.0.1:6379 (flushed after). Like a deploy it
runs the release step (migrate) and collectstatic first, then waits for /readyz/.

The smoke test, over HTTP as a person and GitHub would: sign in, load the plan page,
start batch 1 and link its first PR (the worker reads the fake GitHub), open the batch
page's events stream (push, served by the ASGI web process), then deliver a signed
check_run webhook that fails CI, watch the batch page (as its htmx poll does) until
the CI gate shows failing, and see the stream announce that page's version. Then
every process is stopped.

GitHub is the loopback fake (`providers/fake/`) serving the official payloads.
Exits non-zero, with the processes' logs, on any failure. Takes about 30 s.
"""

from __future__ import annotations

import os
import queue
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
POSTGRES = os.environ.get("PROD_CHECK_POSTGRES", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("PROD_CHECK_REDIS", "redis://127.0.0.1:6379/15")
PLAN = "batch-plan-2025-10"
REPO = "octo-org/gatehouse-prodcheck"
WEBHOOK_SECRET = secrets.token_urlsafe(24)
PASSWORD = secrets.token_urlsafe(16)
PROCESSES = ("web", "worker", "beat")


def log(message: str) -> None:
    print(f"[prod-check {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def in_venv(command: str) -> str:
    """The Procfile names bare commands (a platform's PATH); here they are the virtualenv's."""
    program, _, rest = command.partition(" ")
    return f"{shlex.quote(str(BIN / program))} {rest}"


class EventStream(threading.Thread):
    """A page's events stream read in the background: each `version` event's data goes to ``versions``."""

    def __init__(self, base: str, path: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)  # ends with the web process, which closes the stream
        self.base, self.path, self.headers = base, path, headers
        self.versions: queue.Queue[str] = queue.Queue()
        self.status: int | None = None
        self.opened = threading.Event()

    def run(self) -> None:
        import httpx

        timeout = httpx.Timeout(10, read=60)
        with (
            httpx.Client(base_url=self.base, headers=self.headers, timeout=timeout) as client,
            client.stream("GET", self.path) as response,
        ):
            self.status = response.status_code
            self.opened.set()
            event = ""
            try:
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line.removeprefix("event: ")
                    elif line.startswith("data: ") and event == "version":
                        self.versions.put(line.removeprefix("data: "))
            except httpx.TransportError:
                pass  # the web process stopped (the end of the check, or a failure it reports)

    def next_version(self, seconds: float) -> str | None:
        try:
            return self.versions.get(timeout=seconds)
        except queue.Empty:
            return None

    def latest(self, seconds: float) -> str | None:
        """The newest version announced so far, waiting up to ``seconds`` for a first one."""
        version = self.next_version(seconds)
        while not self.versions.empty():
            version = self.versions.get()
        return version


class Run:
    def __init__(self) -> None:
        self.database = f"gatehouse_prodcheck_{os.getpid()}"
        self.var = Path(tempfile.mkdtemp(prefix="gatehouse-prodcheck-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.fake = None
        self.env: dict[str, str] = {}

    # -- services ---------------------------------------------------------------------

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}"')
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def drop_database(self) -> None:
        import psycopg

        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def flush_redis(self) -> None:
        import redis

        redis.Redis.from_url(REDIS, socket_connect_timeout=5).flushdb()

    # -- the recipe ---------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        from providers.fake import FakeProviders

        self.fake = FakeProviders().start()
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ")}
        return {
            **keep,
            "DEBUG": "false",
            # As behind Render's TLS-terminating proxy: the smoke test sends X-Forwarded-Proto.
            "SECURE_PROXY_SSL_HEADER_TRUSTED": "true",
            "SECRET_KEY": secrets.token_urlsafe(60),
            "ALLOWED_HOSTS": "127.0.0.1",
            "PORTAL_BASE_URL": self.base,
            "DATABASE_URL": f"{POSTGRES}/{self.database}",
            "REDIS_URL": REDIS,
            "GATEHOUSE_VAR_DIR": str(self.var),
            "GITHUB_API_URL": self.fake.github_url,
            "GITHUB_WEB_URL": "https://github.com",
            "GITHUB_TOKEN": "ghp-prodcheck",
            "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "RENDER_API_URL": self.fake.render_url,
            "SENTRY_URL": self.fake.sentry_url,
            "BIND": "127.0.0.1",
            "PORT": str(self.port),
            "WEB_CONCURRENCY": "2",
            "WORKER_CONCURRENCY": "1",
            "LOG_LEVEL": "WARNING",
        }

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [str(BIN / "python"), "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode:
            raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def release(self) -> None:
        entries = procfile()
        release = entries["release"]
        assert release.startswith("python manage.py "), release
        self.manage(*shlex.split(release)[2:])
        self.manage("collectstatic", "--noinput", "-v", "0")
        # The plan and a release manager, as an operator would set them up.
        self.manage("import_plan", str(ROOT / "docs" / "batch-plan-2025-10.md"), "--slug", PLAN)
        self.manage("create_user", "prodcheck-rm", "--role", "release_manager", "--password", PASSWORD)

    def boot(self) -> None:
        entries = procfile()
        for name in PROCESSES:
            self.processes[name] = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {in_venv(entries[name])}"],
                cwd=ROOT,
                env=self.env,
                stdout=open(self.var / f"{name}.log", "wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        log(f"started {', '.join(f'{n} (pid {p.pid})' for n, p in self.processes.items())}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self.fake is not None:
            self.fake.stop()

    def logs(self) -> str:
        out = []
        for name in self.processes:
            path = self.var / f"{name}.log"
            if path.exists():
                out.append(f"--- {name} ---\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(out)

    # -- the smoke test -------------------------------------------------------------

    def wait_ready(self, client) -> None:
        import httpx

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise SystemExit(f"{name} exited with {process.returncode}")
            try:
                if client.get("/readyz/").status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.25)
        raise SystemExit("/readyz/ did not answer 200 within 30 s")

    def smoke(self) -> None:
        import httpx

        from providers.fake.webhooks import check_run_completed, webhook_delivery

        # Behind Render's proxy the portal sees HTTPS; so does it here.
        headers = {"X-Forwarded-Proto": "https"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=10) as client:
            self.wait_ready(client)
            assert client.get("/healthz/").text == "ok\n"
            log("ready: /readyz/ answers 200")

            # Secure cookies are not sent over plain http by a cookie jar; carry them by hand.
            cookies: dict[str, str] = {}

            def send(method: str, url: str, **kwargs):
                cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
                response = client.request(
                    method, url, headers={"Cookie": cookie, **kwargs.pop("headers", {})}, **kwargs
                )
                for key, value in response.cookies.items():
                    cookies[key] = value
                return response

            login = send("GET", "/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)[1]
            signed_in = send(
                "POST",
                "/login/",
                data={"username": "prodcheck-rm", "password": PASSWORD, "csrfmiddlewaretoken": token},
                headers={"Referer": f"https://127.0.0.1:{self.port}/login/"},
            )
            assert signed_in.status_code == 302, f"login answered {signed_in.status_code}"
            plan_page = send("GET", f"/plans/{PLAN}/")
            assert plan_page.status_code == 200, plan_page.status_code
            assert "Batch 1" in plan_page.text
            log("signed in and loaded the plan page")

            def post(url: str, data: dict) -> httpx.Response:
                page = send("GET", f"/plans/{PLAN}/batches/1/")
                csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
                return send(
                    "POST",
                    url,
                    data={**data, "csrfmiddlewaretoken": csrf},
                    headers={"Referer": f"https://127.0.0.1:{self.port}/plans/{PLAN}/batches/1/"},
                )

            # The plan's repository and batch 1's CI check, through the product's own settings code.
            self.manage(
                "shell",
                "-c",
                "from batches.models import Plan, Gate; from batches.plan_settings import plan_configure, "
                f"gate_check_names_configure; p = Plan.objects.get(slug='{PLAN}'); "
                f"plan_configure(plan=p, by=None, values={{'github_repository': '{REPO}'}}); "
                "gate_check_names_configure(plan=p, check_names={g.pk: 'ci' for g in "
                "Gate.objects.filter(batch__plan=p, kind='ci')})",
            )
            sha = "a" * 40
            assert post(f"/plans/{PLAN}/batches/1/start/", {}).status_code == 302
            for pr, number, head in ((1, 101, sha), (2, 102, "b" * 40)):
                self.fake.github_pr(REPO, number, head_sha=head)
                self.fake.github_checks(REPO, head, [{"name": "ci", "status": "in_progress", "conclusion": None}])
                linked = post(
                    f"/plans/{PLAN}/batches/1/prs/{pr}/link/", {"url": f"https://github.com/{REPO}/pull/{number}"}
                )
                assert linked.status_code == 302, linked.status_code
            log("started batch 1 and linked its PRs to the fake GitHub's pull requests 101 and 102")

            # Push: the batch page's events stream, signed in. Its first event is the version now.
            stream = EventStream(
                self.base,
                f"/plans/{PLAN}/batches/1/events/",
                {**headers, "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
            )
            stream.start()
            if not stream.opened.wait(10) or stream.status != 200:
                raise SystemExit(f"the events stream did not open (status {stream.status})")
            before = stream.next_version(10)
            log("opened the batch page's events stream")

            # GitHub: CI fails, and says so in a signed webhook.
            self.fake.github_checks(REPO, sha, [{"name": "ci", "status": "completed", "conclusion": "failure"}])
            payload = check_run_completed(
                REPO, name="ci", conclusion="failure", head_sha=sha, numbers=[101], completed_at="2026-12-01T10:00:00Z"
            )
            delivery = webhook_delivery(secret=WEBHOOK_SECRET, event="check_run", payload=payload)
            started = time.monotonic()
            answered = client.post("/webhooks/github/", content=delivery.body, headers=delivery.headers)
            assert answered.status_code in (200, 202), f"the webhook answered {answered.status_code}"
            announced = stream.next_version(10)
            if announced is None or announced == before:
                raise SystemExit("the events stream announced no new version within 10 s of the webhook")
            log(f"the events stream announced a new version {time.monotonic() - started:.1f} s after the webhook")
            while time.monotonic() - started < 20:
                page = send("GET", f"/plans/{PLAN}/batches/1/", headers={"HX-Request": "true"})
                if re.search(
                    r'class="row gate gate--failing"[^>]*>\s*<div class="row__main">\s*<span class="gate__kind">CI',
                    page.text,
                ):
                    log(f"the CI gate shows failing {time.monotonic() - started:.1f} s after the webhook")
                    # The stream's newest version and the page's agree once the changes settle (a version
                    # that lasted less than a watcher's reading is skipped: the stream says the newest).
                    settle = time.monotonic() + 10
                    while time.monotonic() < settle:
                        announced = stream.latest(0.5) or announced
                        page = send("GET", f"/plans/{PLAN}/batches/1/", headers={"HX-Request": "true"})
                        shown = re.search(r'hx-vals=\'\{"v": "([0-9a-f]+)"\}\'', page.text)[1]
                        if shown == announced:
                            log("the events stream's newest version is the one the page shows")
                            return
                    raise SystemExit(f"the events stream's newest version {announced} is not the page's {shown}")
                time.sleep(0.2)
            gates = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text.split('id="gates"', 1)[-1]))[:1500]
            raise SystemExit(f"the CI gate did not turn failing within 20 s of the webhook; the gates say: {gates}")


def main() -> None:
    started = time.monotonic()
    run = Run()
    run.create_database()
    log(f"database {run.database}, Redis {REDIS}, web on {run.base}")
    ok = False
    try:
        run.env = run.environment()
        run.release()
        log("release: migrate, collectstatic, plan imported, release manager created")
        run.boot()
        run.smoke()
        ok = True
    finally:
        run.stop()
        if not ok:
            print(run.logs(), file=sys.stderr)
        run.drop_database()
        run.flush_redis()
    log(f"passed in {time.monotonic() - started:.0f} s; processes stopped, database dropped, Redis db flushed")


if __name__ == "__main__":
    main()
