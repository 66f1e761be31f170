"""The portal tests use a checklist item from the sign-off tests."""

from tests.signoffs.conftest import item  # noqa: F401
