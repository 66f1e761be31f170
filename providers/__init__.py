"""Everything Gatehouse knows about its providers (GitHub, Render, Sentry) outside the domain.

``providers.fake`` is a simulated GitHub, Render and Sentry on loopback: the tests
and the benchmark use it, and ``runportal`` serves it for the demo. It imports
nothing from Django or the portal's apps.
"""
