"""``manage.py import_checklist PATH --plan SLUG``."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from reviews.models import ReleaseCheckItem
from tests.reviews.conftest import GUIDE


def test_imports_the_guide(sample_plan, capsys):
    call_command("import_checklist", str(GUIDE), plan=sample_plan.slug)
    assert "Imported 8 checklist items for batch-plan-2025-10 from PRODUCTION_DEPLOYMENT_GUIDE.md: 8 added." in (
        capsys.readouterr().out
    )
    assert ReleaseCheckItem.objects.filter(checklist__plan=sample_plan).count() == 8


def test_a_bad_file_fails_with_the_line_and_writes_nothing(sample_plan, tmp_path):
    bad = tmp_path / "guide.md"
    bad.write_bytes(b"# Guide\n- [ ] fine\n\x00binary")
    with pytest.raises(CommandError, match=r"^guide\.md, line 3: this is a binary file"):
        call_command("import_checklist", str(bad), plan=sample_plan.slug)
    assert not ReleaseCheckItem.objects.exists()


def test_unknown_plan_and_missing_file(sample_plan, tmp_path):
    with pytest.raises(CommandError, match="No plan “nope”"):
        call_command("import_checklist", str(GUIDE), plan="nope")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_checklist", str(tmp_path / "missing.md"), plan=sample_plan.slug)
