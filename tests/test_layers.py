"""The import rules of docs/architecture.md, checked from the code's own imports.

Every ``import`` and ``from … import`` in a package's modules counts, including
ones inside functions (a lazy import is still a dependency). A new cross-import
that breaks a rule fails here, naming the file and the import.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.imports import imported_modules

REPO = Path(__file__).resolve().parent.parent
PACKAGES = (
    "portal",
    "providers",
    "batches",
    "signoffs",
    "tokens",
    "notifications",
    "reviews",
    "metrics",
    "pages",
    "api",
    "demo",
)

# What each package may import of the others. Whatever is not listed is forbidden.
ALLOWED: dict[str, set[str]] = {
    # Settings, roles, the Celery app: the floor everything stands on.
    "portal": set(),
    # Provider clients are a leaf: no model, no app (what they need, such as an ETag store, is handed in).
    "providers": set(),
    "batches": {"portal", "providers"},
    "signoffs": {"portal", "batches"},
    # Personal API tokens: only the user model and roles beneath them.
    "tokens": {"portal"},
    # Listens to what `batches` announces (batches/signals.py); posts through the Slack client.
    "notifications": {"portal", "providers", "batches"},
    # The stakeholder review: above the sign-offs it summarises; it posts through the GitHub client. It adds
    # its section to the sign-off record through signoffs.audit's seam, so `signoffs` never imports it.
    "reviews": {"portal", "providers", "batches", "signoffs"},
    # Computes delivery metrics from the domain's history and the provider clients; listens to
    # `batches/signals.py` for approvals; its CSV uses the sign-off record's formula-injection guard.
    "metrics": {"portal", "providers", "batches", "signoffs"},
    "pages": {"portal", "batches", "signoffs", "tokens", "notifications", "reviews", "metrics"},
    # Beside `pages`: the same read-models, but no page views, forms or templates (see API_INTO_PAGES).
    "api": {"portal", "batches", "signoffs", "tokens", "pages", "metrics"},
    # The demo drives the whole product through its own actions.
    "demo": set(PACKAGES) - {"demo"},
}
# `batches` creates checklist items when it imports a plan: the one place it may reach into `signoffs`.
BATCHES_INTO_SIGNOFFS = {"batches/plan_import.py"}
# What the JSON API may use of `pages`: the read-models the pages themselves render from.
API_INTO_PAGES = ("pages.readmodels",)


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports (relative ones resolved, ``import_module("…")`` included), once per line."""
    shortest: dict[tuple[int, str], str] = {}
    for line, name in imported_modules(path.read_text(), module=module_name(path)):
        key = (line, name.split(".")[0])
        if key not in shortest or len(name) < len(shortest[key]):
            shortest[key] = name
    return sorted((line, name) for (line, _), name in shortest.items())


def modules_of(package: str) -> list[Path]:
    # Migrations use the historical models Django hands them, never the apps' code.
    return sorted(p for p in (REPO / package).rglob("*.py") if "migrations" not in p.parts)


def violations() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in modules_of(package):
            relative = path.relative_to(REPO).as_posix()
            for line, module in imports_of(path):
                top = module.split(".")[0]
                if top not in PACKAGES or top == package:
                    continue
                allowed = top in ALLOWED[package] or (
                    package == "batches" and top == "signoffs" and relative in BATCHES_INTO_SIGNOFFS
                )
                if package == "api" and top == "pages":
                    # ``from pages import readmodels`` reads as plain "pages": name the module itself.
                    allowed = module.startswith(API_INTO_PAGES)
                if not allowed:
                    found.append(f"{relative}:{line} imports {module}")
    return found


def test_every_package_imports_only_what_its_layer_allows():
    assert violations() == []


def test_provider_clients_import_no_django_models():
    for path in modules_of("providers"):
        for line, module in imports_of(path):
            assert not module.startswith(("django.db", "django.apps", "django.contrib")), (
                f"{path.relative_to(REPO)}:{line} imports {module}"
            )


@pytest.mark.parametrize("package", PACKAGES)
def test_the_rules_see_every_package(package):
    assert modules_of(package), f"{package}/ has no modules: the layering rules would check nothing"


def test_the_check_would_catch_a_cross_import(tmp_path, monkeypatch):
    """The rule fires on an upward import (here a lazy one inside a function)."""
    fake_repo = tmp_path / "repo"
    for package in PACKAGES:
        (fake_repo / package).mkdir(parents=True)
        (fake_repo / package / "__init__.py").write_text("")
    (fake_repo / "batches" / "gates.py").write_text("def f():\n    from signoffs.models import SignOff\n")
    (fake_repo / "batches" / "plan_import.py").write_text("from signoffs.models import ChecklistItem\n")
    (fake_repo / "providers" / "http.py").write_text("from batches.models import ConditionalCache\n")
    (fake_repo / "api" / "endpoints.py").write_text("import pages.readmodels as rm\nfrom pages.views import plans\n")
    (fake_repo / "notifications" / "services.py").write_text("from pages.readmodels import gate_tally\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["REPO"]), "REPO", fake_repo)
    assert violations() == [
        "providers/http.py:1 imports batches.models",
        "batches/gates.py:2 imports signoffs.models",
        "notifications/services.py:1 imports pages.readmodels",
        "api/endpoints.py:2 imports pages.views",
    ]
