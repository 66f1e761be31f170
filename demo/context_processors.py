"""The demo banner on every page while the simulated providers run."""

from __future__ import annotations

from django.http import HttpRequest


def demo(request: HttpRequest) -> dict:
    from demo.simulator import running_simulator

    return {"demo_providers": running_simulator() is not None}
