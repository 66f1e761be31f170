"""The web process's application (gunicorn with uvicorn workers, see the Procfile).

ASGI lets a live page's events stream (pages/push.py) stay open without holding a
thread. Only async views (the streams) go through Django's ASGI handler; every other
request runs Django's WSGI handler in one of ``WEB_THREADS`` threads per process,
which costs what a sync worker does (portal/serving.py says why). Database
connections come from a pool per process (DATABASE_POOL, portal/settings.py): the
ASGI handler serves each request's sync code in a thread made for it, where a
connection kept per thread would be one per request.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application

from portal.serving import ByView, WSGIInThreads

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DATABASE_POOL", "true")

application = ByView(
    asgi=get_asgi_application(),
    wsgi=WSGIInThreads(get_wsgi_application(), threads=settings.WEB_THREADS),
)
