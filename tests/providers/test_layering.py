"""The provider package is a leaf: it imports no model and nothing from the portal's apps.

Read from the code's own imports (``ast``), so a new module is checked the day
it is added; and confirmed by importing the package in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.imports import imported_modules

PACKAGE = REPO / "providers"
# The apps and the pages above them, and the settings/roles project; Django's ORM and app registry.
FORBIDDEN = ("batches", "signoffs", "pages", "demo", "portal", "django.db", "django.apps", "django.contrib")


def violations(source: str, *, module: str) -> list[str]:
    return [
        f"{module}:{line} imports {name}"
        for line, name in imported_modules(source, module=module)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    ]


def _modules() -> list[tuple[str, Path]]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules.append((name + (".__init__" if parts[-1] == "__init__" else ""), path))
    return modules


MODULES = _modules()


def test_the_package_is_all_here():
    names = {name for name, _ in MODULES}
    assert {"providers.http", "providers.github", "providers.github_webhooks", "providers.fake.server"} <= names


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[name for name, _ in MODULES])
def test_no_provider_module_imports_a_model_or_an_app(module, path):
    assert violations(path.read_text(), module=module) == []


@pytest.mark.parametrize(
    "source",
    [
        "from batches.models import ConditionalCache",
        "import batches.models",
        "import signoffs",
        "from pages import views",
        "from demo.simulator import demo_world",
        "from portal.roles import user_can",
        "from django.db import models",
        "from django import db",
        "from django.apps import apps",
        "from django.contrib.auth.models import User",
        "def f():\n    from batches.models import Plan\n",
        "import importlib\nimportlib.import_module('batches.models')",
        "__import__('signoffs.models')",
        "from ... import batches",
    ],
)
def test_the_check_catches_each_kind_of_import(source):
    assert violations(source, module="providers.fake.server") != []


@pytest.mark.parametrize(
    "source",
    [
        "from django.conf import settings",
        "import httpx",
        "from providers.http import HttpClient",
        "from . import payloads",
        "from .. import http",
        "import batchesque",
    ],
)
def test_the_check_lets_the_allowed_imports_through(source):
    assert violations(source, module="providers.fake.server") == []


def test_importing_every_provider_module_loads_no_app_and_no_orm():
    names = [name.removesuffix(".__init__") for name, _ in MODULES]
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    # No DJANGO_SETTINGS_MODULE: reading settings at import time would fail here too.
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    loaded = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "providers.github_webhooks" in loaded
    assert [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)] == []
