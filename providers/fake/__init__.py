"""A fake GitHub, Render and Sentry: an HTTP server on loopback answering with the official payloads.

- :mod:`providers.fake.server`: the server, with fixed routes for tests and benchmarks;
- :mod:`providers.fake.world`: a small stateful simulation served by it, for the demo;
- :mod:`providers.fake.webhooks`: signed GitHub webhook deliveries;
- :mod:`providers.fake.payloads`: the official example payloads (``examples/``), named fields changed.
"""

from __future__ import annotations

from providers.fake.payloads import EXAMPLES, example
from providers.fake.server import FakeProviders, Seen
from providers.fake.webhooks import deliver_github_webhook, webhook_delivery
from providers.fake.world import DemoWorld, WorldError

__all__ = [
    "EXAMPLES",
    "DemoWorld",
    "FakeProviders",
    "Seen",
    "WorldError",
    "deliver_github_webhook",
    "example",
    "webhook_delivery",
]
