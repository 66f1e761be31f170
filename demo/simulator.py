"""The simulated GitHub, Render and Sentry of the demo, running inside the portal's process.

``runportal`` starts them (:func:`simulator_start`) when no real provider token
is set, and points the three base URLs at the fake on loopback; ``setup_demo``
runs them for a moment (:func:`simulated_providers`) to seed the sample plan.
A :class:`Simulator` changes the simulated world and tells the portal the way
the real providers would: GitHub changes arrive as signed webhooks, Render and
Sentry changes are picked up by a sync of the active batches.

Never in production: nothing here runs with DEBUG off.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from providers.fake import DemoWorld, FakeProviders
from providers.fake.webhooks import (
    Delivery,
    check_run_completed,
    pull_request_event,
    pull_request_review_submitted,
    status_event,
    webhook_delivery,
)
from providers.fake.world import iso

logger = logging.getLogger(__name__)

# The simulated world: one repository, one Render service, one Sentry project.
REPOSITORY = "demo-org/paiid"
RENDER_SERVICE = "srv-paiid-backend"
SENTRY_ORGANIZATION = "demo-org"
SENTRY_PROJECT = "paiid-backend"
SENTRY_ENVIRONMENT = "production"
AI_CHECK_NAME = "claude-review"
AI_BOT_LOGIN = "claude[bot]"
WORLD_FILE = "demo-providers.json"
# Changes the simulator makes reach the portal at once (webhooks, a sync); the loop
# only catches what raced with a running sync, so in the demo it can afford to be quick.
DEMO_SYNC_SECONDS = 10

TOKEN_SETTINGS = ("GITHUB_TOKEN", "RENDER_API_KEY", "SENTRY_AUTH_TOKEN")
# What the simulator sets for the process, and restores when it stops.
_SETTINGS = (
    "GITHUB_API_URL",
    "RENDER_API_URL",
    "SENTRY_URL",
    *TOKEN_SETTINGS,
    "GITHUB_WEBHOOK_SECRET",
    "GITHUB_WEB_URL",
)


# -- whether to simulate ----------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    on: bool
    reason: str


def demo_providers_decision(
    *, debug: bool, forced: bool | None, tokens: dict[str, str | None], tasks_in_process: bool
) -> Decision:
    """Whether to run the simulated providers, and one sentence saying why (or why not).

    Off in production (DEBUG off) whatever else is set, and when Celery tasks go to a
    worker (a worker process cannot reach this process's simulation). Otherwise
    ``DEMO_PROVIDERS`` decides when set; unset, the simulation runs only when none of
    the real providers' tokens is set.
    """
    switch = "set GITHUB_TOKEN, RENDER_API_KEY and SENTRY_AUTH_TOKEN"
    if not debug:
        return Decision(False, "Simulated providers never run with DEBUG off.")
    if not tasks_in_process:
        return Decision(
            False,
            "Simulated providers are off: Celery tasks go to a worker (a broker is configured), "
            "which cannot reach them.",
        )
    if forced is False:
        return Decision(False, "Simulated providers are off (DEMO_PROVIDERS=false): gates read the real providers.")
    set_tokens = [name for name, value in tokens.items() if value]
    if forced is True:
        note = f" ({', '.join(set_tokens)} ignored in this process)" if set_tokens else ""
        return Decision(True, f"DEMO_PROVIDERS=true{note}; to use the real providers, {switch} without it.")
    if set_tokens:
        return Decision(False, f"Real providers: {', '.join(set_tokens)} set, so nothing is simulated.")
    return Decision(True, f"No provider token is set; to use the real providers, {switch}.")


def demo_providers_wanted() -> Decision:
    """:func:`demo_providers_decision` for this process's settings."""
    return demo_providers_decision(
        debug=settings.DEBUG,
        forced=settings.DEMO_PROVIDERS,
        tokens={name: getattr(settings, name) for name in TOKEN_SETTINGS},
        tasks_in_process=settings.CELERY_TASK_ALWAYS_EAGER,
    )


# -- the world ----------------------------------------------------------------------


def world_path() -> Path:
    return Path(settings.VAR_DIR) / WORLD_FILE


def demo_world(path: Path | None = None, *, fresh: bool = False) -> DemoWorld:
    """The demo's world saved at ``path`` (a fresh one when asked or when there is none yet)."""
    path = path or world_path()
    if fresh:
        path.unlink(missing_ok=True)
    world = DemoWorld.load(path)
    world.add_repository(REPOSITORY)
    world.add_service(RENDER_SERVICE, repository=REPOSITORY, name="paiid-backend")
    world.add_sentry_project(SENTRY_ORGANIZATION, SENTRY_PROJECT)
    return world


def concrete_check_name(pattern: str) -> str:
    """A check name matching a CI gate's ``check_name``, which may be an fnmatch pattern (``ci/*``)."""
    name = re.sub(r"\[!?([^\]])[^\]]*\]", r"\1", pattern).replace("*", "tests").replace("?", "x")
    return name if fnmatch.fnmatchcase(name, pattern) else pattern


def changed_files(pr) -> list[str]:
    """The files a merge of planned PR ``pr`` changes in the simulation: those its task names, or one of its own."""
    return list(pr.files) or [f"src/pr_{pr.number}.py"]


# -- the simulator --------------------------------------------------------------------


class Simulator:
    """The simulated providers, served on loopback, and the changes a demo makes to them.

    Each change returns a sentence saying what it did. With ``webhook_url`` the
    GitHub deliveries are POSTed to the portal over HTTP (``runportal``);
    without, they are handed to the webhook view in this process (seeding,
    tests). Either way the view checks the signature and queues the sync.
    """

    def __init__(self, *, world: DemoWorld, server: FakeProviders, secret: str, webhook_url: str | None = None):
        self.world = world
        self.server = server
        self.secret = secret
        self.webhook_url = webhook_url

    @property
    def url(self) -> str:
        return self.server.url

    # -- telling the portal ---------------------------------------------------------

    def deliver(self, event: str, payload: dict) -> int:
        """Send one signed webhook delivery to the portal; returns the HTTP status it answered."""
        if self.webhook_url:
            from providers.fake.webhooks import deliver_github_webhook

            status = deliver_github_webhook(self.webhook_url, secret=self.secret, event=event, payload=payload)
        else:
            status = _deliver_in_process(webhook_delivery(secret=self.secret, event=event, payload=payload))
        if status >= 400:
            logger.warning("The portal refused the simulated %s webhook (HTTP %s).", event, status)
        return status

    def sync(self) -> str:
        """Re-evaluate every active batch now, as the sync loop would (Render and Sentry send no webhooks)."""
        from batches.sync import active_batches, batches_sync

        report = batches_sync(batches=list(active_batches()))
        changes = sum("→" in line for line in report.changes)
        text = f"{changes} gate change{'s' if changes != 1 else ''}"
        if report.skipped:
            text += f"; a sync was already running, the loop picks the rest up within {DEMO_SYNC_SECONDS} s"
        return text

    # -- GitHub ------------------------------------------------------------------------

    def pr_open(self, repository: str, number: int) -> str:
        pull = self.world.pull(repository, number)
        self.deliver("pull_request", pull_request_event(repository, "opened", number=number, head_sha=pull.head_sha))
        return f"{repository}#{number} is open at {pull.head_sha[:7]}."

    def pr_check(self, repository: str, number: int, *, name: str, passed: bool) -> str:
        """CI ``name`` passed or failed on the PR's head: a check run, or a commit status for ``ci/…`` contexts."""
        pull = self.world.pull(repository, number)
        if "/" in name:
            state = "success" if passed else "failure"
            description = "All tests passed" if passed else "3 tests failed"
            self.world.set_status(repository, pull.head_sha, context=name, state=state, description=description)
            self.deliver(
                "status",
                status_event(repository, sha=pull.head_sha, context=name, state=state, description=description),
            )
        else:
            conclusion = "success" if passed else "failure"
            title = "All checks passed" if passed else "3 tests failed"
            run = self.world.report_check(repository, number, name=name, conclusion=conclusion, title=title)
            self.deliver(
                "check_run",
                check_run_completed(
                    repository,
                    name=name,
                    conclusion=conclusion,
                    head_sha=pull.head_sha,
                    numbers=[number],
                    completed_at=run.completed_at or iso(self.world.clock()),
                    run_id=run.id,
                ),
            )
        return f"{name} {'passed' if passed else 'failed'} on {repository}#{number}."

    def pr_ai_review(
        self, repository: str, number: int, *, check_name: str, bot_login: str, approve: bool, findings: str = ""
    ) -> str:
        """The AI reviewer's verdict on the PR's head: its check run and its review, as Claude posts both."""
        pull = self.world.pull(repository, number)
        if check_name:
            conclusion = "success" if approve else "failure"
            title = "No blocking findings" if approve else "2 blocking findings"
            run = self.world.report_check(
                repository, number, name=check_name, conclusion=conclusion, title=title, summary=findings
            )
            self.deliver(
                "check_run",
                check_run_completed(
                    repository,
                    name=check_name,
                    conclusion=conclusion,
                    head_sha=pull.head_sha,
                    numbers=[number],
                    completed_at=run.completed_at or iso(self.world.clock()),
                    run_id=run.id,
                ),
            )
        if bot_login:
            state = "APPROVED" if approve else "CHANGES_REQUESTED"
            body = findings or ("Looks good to me." if approve else "Please address the blocking findings.")
            review = self.world.submit_review(repository, number, login=bot_login, state=state, body=body)
            self.deliver(
                "pull_request_review",
                pull_request_review_submitted(
                    repository,
                    number=number,
                    head_sha=pull.head_sha,
                    login=bot_login,
                    state=state,
                    submitted_at=review.submitted_at,
                    review_id=review.id,
                    body=body,
                ),
            )
        who = bot_login or check_name
        return f"{who} {'approved' if approve else 'requested changes on'} {repository}#{number}."

    def pr_merge(self, repository: str, number: int, *, files: list[str]) -> str:
        pull = self.world.merge(repository, number, files=files)
        self.deliver(
            "pull_request",
            pull_request_event(
                repository,
                "closed",
                number=number,
                head_sha=pull.head_sha,
                merged_at=pull.merged_at,
                merge_commit_sha=pull.merge_commit_sha,
            ),
        )
        return f"{repository}#{number} is merged into main ({pull.merge_commit_sha[:7]})."

    # -- Render and Sentry ---------------------------------------------------------------

    def render_deploy(self, service_id: str, *, live: bool) -> str:
        deploy = self.world.deploy(service_id, status="live" if live else "build_failed")
        outcome = "is live" if live else "failed to build"
        return f"Render deploy of {service_id} at {deploy.commit_id[:7]} {outcome}; synced: {self.sync()}."

    def sentry_raise(self, organization: str, project: str, *, title: str) -> str:
        issue = self.world.raise_issue(organization, project, title=title)
        return f"Sentry issue {issue.short_id} “{title}” raised; synced: {self.sync()}."

    def sentry_resolve(self, organization: str, project: str) -> str:
        count = self.world.resolve_issues(organization, project)
        return f"Resolved {count} Sentry issue{'s' if count != 1 else ''}; synced: {self.sync()}."

    def outage(self, provider: str, *, down: bool) -> str:
        self.world.set_outage(provider, down)
        state = "down (it answers 503)" if down else "back up"
        return f"The simulated {provider.capitalize()} is {state}; synced: {self.sync()}."


def _deliver_in_process(delivery: Delivery) -> int:
    """Hand a delivery to the portal's webhook view in this process, as the HTTP server would."""
    from django.test import RequestFactory

    from batches.webhooks import github_webhook

    headers = {k: v for k, v in delivery.headers.items() if k != "Content-Type"}
    request = RequestFactory().post(
        "/webhooks/github/", data=delivery.body, content_type="application/json", headers=headers
    )
    return github_webhook(request).status_code


# -- running -----------------------------------------------------------------------------

_running: Simulator | None = None
_running_lock = threading.Lock()
_saved_settings: dict[str, object] = {}


def running_simulator() -> Simulator | None:
    """The simulator this process serves, or None (the demo page is then a 404)."""
    return _running


def _serve(world: DemoWorld) -> FakeProviders:
    # The previous port when free, so the addresses stored with cached responses still apply.
    for port in (world.state.port or 0, 0):
        try:
            server = FakeProviders(world=world, port=port).start()
        except OSError:
            continue
        world.remember_port(server.port)
        return server
    raise OSError("Could not bind a loopback port for the simulated providers.")


def simulator_start(*, world: DemoWorld, webhook_url: str | None = None) -> Simulator:
    """Serve ``world`` on loopback and point this process's provider settings at it."""
    global _running
    with _running_lock:
        if _running is not None:
            raise RuntimeError("The simulated providers are running already.")
        server = _serve(world)
        secret = settings.GITHUB_WEBHOOK_SECRET or secrets.token_hex(20)
        _saved_settings.clear()
        _saved_settings.update({name: getattr(settings, name) for name in _SETTINGS})
        settings.GITHUB_API_URL = server.github_url
        settings.RENDER_API_URL = server.render_url
        settings.SENTRY_URL = server.sentry_url
        # The clients need a token to ask at all; the simulation ignores its value.
        settings.GITHUB_TOKEN = "demo-github-token"
        settings.RENDER_API_KEY = "demo-render-key"
        settings.SENTRY_AUTH_TOKEN = "demo-sentry-token"
        settings.GITHUB_WEBHOOK_SECRET = secret
        # Release managers paste https://github.com/… PR URLs even though the API is on loopback.
        settings.GITHUB_WEB_URL = "https://github.com"
        _running = Simulator(world=world, server=server, secret=secret, webhook_url=webhook_url)
        return _running


def simulator_stop() -> None:
    """Stop serving and restore the provider settings (tests, and the end of seeding)."""
    global _running
    with _running_lock:
        if _running is None:
            return
        _running.server.stop()
        for name, value in _saved_settings.items():
            setattr(settings, name, value)
        _saved_settings.clear()
        _running = None


@contextlib.contextmanager
def simulated_providers(world: DemoWorld, *, webhook_url: str | None = None) -> Iterator[Simulator]:
    """Run the simulated providers for the duration of a ``with`` block."""
    simulator = simulator_start(world=world, webhook_url=webhook_url)
    try:
        yield simulator
    finally:
        simulator_stop()
