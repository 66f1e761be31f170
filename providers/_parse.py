"""Small helpers for reading provider JSON into typed objects at the edge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from providers.http import MalformedResponse

T = TypeVar("T")


def parse_time(value: str | None) -> datetime | None:
    """ISO 8601 as GitHub, Render and Sentry send it (``Z`` or an offset, with or without fractions)."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def parse_each[T](provider: str, what: str, items: Any, parse: Callable[[dict], T]) -> list[T]:
    if not isinstance(items, list):
        raise MalformedResponse(f"{provider} sent {what} that is not a list.", provider=provider)
    return [parse_one(provider, what, item, parse) for item in items]


def parse_one[T](provider: str, what: str, item: Any, parse: Callable[[dict], T]) -> T:
    # A missing key or a wrong type in a payload is the provider's contract
    # changing under us: say so instead of failing somewhere deeper.
    try:
        if not isinstance(item, dict):
            raise TypeError(type(item).__name__)
        return parse(item)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedResponse(f"{provider} sent {what} we cannot read ({exc!r}).", provider=provider) from exc
