"""The simulator page: see and change what the simulated GitHub, Render and Sentry report.

Only there while ``runportal`` runs the simulated providers (a 404 otherwise).
Every role may watch; release managers change the simulation. Plain forms:
each button posts one action and the page comes back saying what it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from batches.gates import pr_repository
from batches.models import Gate, GateKind, GateScope, PlannedPR
from batches.sync import active_batches
from demo.simulator import REPOSITORY, Simulator, changed_files, concrete_check_name, running_simulator
from portal.roles import denial_reason, user_can
from providers.fake.world import PROVIDERS, WorldError
from providers.fake.world import PullRequest as SimulatedPull

# Issues a "raise a new issue" press picks from, in turn.
ISSUE_TITLES = (
    "KeyError: 'SENTRY_DSN' in backend/app/core/settings.py",
    "TimeoutError: Redis did not answer within 5 s",
    "TypeError: Cannot read properties of undefined (reading 'expirations')",
)
PROVIDER_NAMES = {"github": "GitHub", "render": "Render", "sentry": "Sentry"}
# The demo links plan PR #n to pull request 100 + n of the demo repository.
SUGGESTED_OFFSET = 100


class ActionError(Exception):
    """The action cannot be done as asked; nothing changed. ``str()`` is for people."""


def _simulator_for(request: HttpRequest, action: str) -> Simulator:
    """The running simulator, if the user may ``action``; 404 when the demo is off."""
    if not user_can(request.user, action):
        raise PermissionDenied(denial_reason(action))
    simulator = running_simulator()
    if simulator is None:
        raise Http404("The simulated providers are not running.")
    return simulator


# -- what the page shows -------------------------------------------------------------


@dataclass
class PullRow:
    pr: PlannedPR
    repository: str
    pull: SimulatedPull | None = None
    checks: list[tuple[str, str]] = field(default_factory=list)  # (name, conclusion or "running")
    statuses: list[tuple[str, str]] = field(default_factory=list)
    reviews: list[tuple[str, str]] = field(default_factory=list)
    ci_names: list[str] = field(default_factory=list)
    suggested_url: str = ""

    @property
    def simulated(self) -> bool:
        return self.pull is not None


def _ci_names(pr: PlannedPR, gates: list[Gate]) -> list[str]:
    names = []
    for gate in gates:
        covers = gate.scope == GateScope.BATCH or any(p.pk == pr.pk for p in gate.prs.all())
        if gate.kind == GateKind.CI and gate.check_name.strip() and covers:
            name = concrete_check_name(gate.check_name.strip())
            if name not in names:
                names.append(name)
    return names


def _pull_row(simulator: Simulator, pr: PlannedPR, gates: list[Gate]) -> PullRow:
    repository = pr_repository(pr)
    row = PullRow(pr=pr, repository=repository, ci_names=_ci_names(pr, gates))
    if not pr.github_number:
        if repository.lower() == REPOSITORY.lower():
            row.suggested_url = f"https://github.com/{REPOSITORY}/pull/{SUGGESTED_OFFSET + pr.number}"
        return row
    world = simulator.world
    try:
        row.pull = world.pull(repository, pr.github_number)
    except WorldError:
        return row  # a repository the simulation does not have
    row.checks = [(r.name, r.conclusion or "running") for r in world.check_runs(repository, row.pull.head_sha)]
    latest: dict[str, str] = {}
    for status in world.statuses(repository, row.pull.head_sha):
        latest[status.context] = status.state
    row.statuses = sorted(latest.items())
    row.reviews = [(r.login, r.state.replace("_", " ").lower()) for r in row.pull.reviews[-3:]]
    return row


def _page_context(request: HttpRequest, simulator: Simulator) -> dict:
    batches = list(
        active_batches().prefetch_related(
            Prefetch("prs", queryset=PlannedPR.objects.select_related("batch__plan").order_by("number")),
            Prefetch("gates", queryset=Gate.objects.filter(kind=GateKind.CI).prefetch_related("prs")),
        )
    )
    groups = []
    for batch in batches:
        gates = list(batch.gates.all())
        groups.append((batch, [_pull_row(simulator, pr, gates) for pr in batch.prs.all()]))
    world = simulator.world
    services = [world.service(service_id) for service_id in world.state.services]
    sentry = [
        (organization, project, [i for i in world.issues(organization) if i.project == project])
        for organization, projects in world.state.projects.items()
        for project in projects
    ]
    return {
        "simulator": simulator,
        "groups": groups,
        "services": services,
        "sentry": sentry,
        "outages": [(provider, PROVIDER_NAMES[provider], world.is_down(provider)) for provider in PROVIDERS],
        "can_drive": user_can(request.user, "simulate_providers"),
    }


@require_GET
def simulator_page(request: HttpRequest) -> HttpResponse:
    simulator = _simulator_for(request, "view")
    return render(request, "demo/providers.html", _page_context(request, simulator))


# -- changing the simulation -------------------------------------------------------------


def _linked_pr(simulator: Simulator, data: QueryDict) -> tuple[PlannedPR, str, int]:
    """The linked planned PR the form names, its repository and its pull request number."""
    try:
        pk = int(data.get("pr", ""))
    except ValueError:
        raise ActionError("Choose a pull request.") from None
    pr = (
        PlannedPR.objects.select_related("batch__plan")
        .filter(pk=pk, batch__in=active_batches(), github_number__isnull=False)
        .first()
    )
    if pr is None or pr.github_number is None:
        raise ActionError("That pull request is not linked in an active batch any more; reload the page.")
    repository = pr_repository(pr)
    try:
        simulator.world.pull(repository, pr.github_number)
    except WorldError as exc:
        raise ActionError(str(exc)) from None
    return pr, repository, pr.github_number


def _ci(simulator: Simulator, data: QueryDict, *, passed: bool) -> str:
    pr, repository, number = _linked_pr(simulator, data)
    gates = Gate.objects.filter(batch=pr.batch, kind=GateKind.CI).filter(Q(scope=GateScope.BATCH) | Q(prs=pr))
    names = _ci_names(pr, list(gates.distinct().prefetch_related("prs")))
    if not names:
        raise ActionError(f"No CI gate of Batch {pr.batch.number} names its check; set the check name in the admin.")
    return " ".join(simulator.pr_check(repository, number, name=name, passed=passed) for name in names)


def _ai(simulator: Simulator, data: QueryDict, *, approve: bool) -> str:
    pr, repository, number = _linked_pr(simulator, data)
    plan = pr.batch.plan
    check, bot = plan.ai_reviewer_check_name.strip(), plan.ai_reviewer_bot_login.strip()
    if not (check or bot):
        raise ActionError("The plan names no AI reviewer check or bot; set them in the admin.")
    if check and any(ch in check for ch in "*?["):
        check = concrete_check_name(check)
    findings = "" if approve else "Blocking: a missing secret crashes startup; read it lazily and fail with a message."
    return simulator.pr_ai_review(
        repository, number, check_name=check, bot_login=bot, approve=approve, findings=findings
    )


def _merge(simulator: Simulator, data: QueryDict) -> str:
    pr, repository, number = _linked_pr(simulator, data)
    return simulator.pr_merge(repository, number, files=changed_files(pr))


def _service(simulator: Simulator, data: QueryDict) -> str:
    service_id = data.get("service", "")
    if service_id not in simulator.world.state.services:
        raise ActionError("Choose one of the simulated Render services.")
    return service_id


def _sentry_project(simulator: Simulator, data: QueryDict) -> tuple[str, str]:
    organization, project = data.get("organization", ""), data.get("project", "")
    if project not in simulator.world.state.projects.get(organization, []):
        raise ActionError("Choose one of the simulated Sentry projects.")
    return organization, project


def _raise_issue(simulator: Simulator, data: QueryDict) -> str:
    organization, project = _sentry_project(simulator, data)
    title = ISSUE_TITLES[len(simulator.world.issues(organization)) % len(ISSUE_TITLES)]
    return simulator.sentry_raise(organization, project, title=title)


def _outage(simulator: Simulator, data: QueryDict, *, down: bool) -> str:
    provider = data.get("provider", "")
    if provider not in PROVIDERS:
        raise ActionError("Choose GitHub, Render or Sentry.")
    return simulator.outage(provider, down=down)


ACTIONS = {
    "ci-pass": lambda s, d: _ci(s, d, passed=True),
    "ci-fail": lambda s, d: _ci(s, d, passed=False),
    "ai-approve": lambda s, d: _ai(s, d, approve=True),
    "ai-changes": lambda s, d: _ai(s, d, approve=False),
    "merge": _merge,
    "deploy-live": lambda s, d: s.render_deploy(_service(s, d), live=True),
    "deploy-fail": lambda s, d: s.render_deploy(_service(s, d), live=False),
    "sentry-raise": _raise_issue,
    "sentry-resolve": lambda s, d: s.sentry_resolve(*_sentry_project(s, d)),
    "outage-on": lambda s, d: _outage(s, d, down=True),
    "outage-off": lambda s, d: _outage(s, d, down=False),
}


@require_POST
def simulator_act(request: HttpRequest) -> HttpResponse:
    """Change the simulation (one ``action``), then come back to the page saying what happened."""
    simulator = _simulator_for(request, "simulate_providers")
    action = ACTIONS.get(request.POST.get("action", ""))
    try:
        if action is None:
            raise ActionError("Unknown action.")
        text = action(simulator, request.POST)
    except (ActionError, WorldError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, text)
    return redirect("demo:providers")
