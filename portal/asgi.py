"""The ASGI application: the production web process (gunicorn with uvicorn workers, see the Procfile).

ASGI lets a live page's events stream (pages/push.py) stay open without holding a
thread. Django serves each request's sync code in a thread of its own there, so
database connections come from a pool per process (DATABASE_POOL, portal/settings.py)
rather than being kept per thread.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DATABASE_POOL", "true")

application = get_asgi_application()
