"""The copied example payloads stay identical to the team's shared originals."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers.fake import EXAMPLES
from tests.conftest import REPO

SHARED = Path(REPO).parent / "shared" / "api-examples"
COPIES = sorted(
    p for p in EXAMPLES.rglob("*.json") if "RECONSTRUCTED" not in p.name or (SHARED / p.relative_to(EXAMPLES)).exists()
)


def test_every_shared_example_was_copied():
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not beside this checkout; the copies in {EXAMPLES} are used as they are")
    shared = {p.relative_to(SHARED) for p in SHARED.rglob("*.json")}
    copied = {p.relative_to(EXAMPLES) for p in EXAMPLES.rglob("*.json")}
    assert shared <= copied


@pytest.mark.parametrize("copy", COPIES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_copy_matches_the_shared_original(copy):
    original = SHARED / copy.relative_to(EXAMPLES)
    if not original.exists():
        pytest.skip(f"{original} is not beside this checkout")
    assert copy.read_bytes() == original.read_bytes()
