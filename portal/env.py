"""Small typed readers for settings that come from the environment.

They fail loudly on a value they cannot read: ``DEBUG=yes`` is an error, not
"truthy". Every reader also accepts ``NAME_FILE`` pointing at a file whose
contents are the value, which is how container secrets are usually mounted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import overload

from django.core.exceptions import ImproperlyConfigured


def _raw(name: str) -> str | None:
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc}") from exc
    return os.environ.get(name)


class _Required:
    """No default: the variable must be set."""


REQUIRED = _Required()


@overload
def env_str(name: str, default: str | _Required = REQUIRED) -> str: ...
@overload
def env_str(name: str, default: None) -> str | None: ...
def env_str(name: str, default: str | _Required | None = REQUIRED) -> str | None:
    """The variable's text; ``default`` when unset or empty, or an error when there is none."""
    value = _raw(name)
    if value is None or value == "":
        if isinstance(default, _Required):
            raise ImproperlyConfigured(f"Set the {name} environment variable.")
        return default
    return value


def env_bool[T: (bool, None)](name: str, default: T) -> bool | T:
    value = _raw(name)
    if value is None or value == "":
        return default
    if value in ("1", "true", "True"):
        return True
    if value in ("0", "false", "False"):
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0/true/false, not {value!r}.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None or value == "":
        return list(default)
    return [part.strip() for part in value.split(",") if part.strip()]
