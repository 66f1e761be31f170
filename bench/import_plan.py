"""Benchmark: import a generated plan of N batches; print time and SQL query counts.

Usage: .venv/bin/python bench/import_plan.py [--batches 200]
Runs against DATABASE_URL (default: a throwaway SQLite file).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def generated_plan(batches: int) -> str:
    lines = ["# Generated plan", "", "## Guiding Principles", "1. **Small** – Keep each batch <= 3 deployable PRs.", ""]
    pr = 0
    for number in range(1, batches + 1):
        lines += [
            f"## Batch {number} – Generated batch {number} (Target: 3 PRs)",
            "- **Goals**",
            "  - Ship it.",
            "- **Key Tasks**",
        ]
        first = pr + 1
        for _ in range(3):
            pr += 1
            lines.append(f"  - Work in `src/module_{pr}.py` and `docs/NOTES_{pr}.md` (PR #{pr}).")
        lines += [
            "- **Readiness Gates**",
            "  - CI: `make test`.",
            "  - Manual: Ops to capture screenshots of the dashboards.",
            f"  - Claude Review: Required for PRs #{first} and #{first + 2}.",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=100, help="at most 100: a plan's cap")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from batches.plan_import import plan_import

    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor}")
    for size in sorted({10, 50, args.batches}):
        source = generated_plan(size)
        for label in ("first import", "re-import"):
            with CaptureQueriesContext(connection) as queries:
                start = time.perf_counter()
                plan_import(source=source, slug=f"bench-{size}")
                elapsed = time.perf_counter() - start
            print(f"{size:4d} batches  {label:12s}  {elapsed:6.3f} s  {len(queries):4d} queries")


if __name__ == "__main__":
    main()
