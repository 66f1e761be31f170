"""The test suite's settings: the development portal, asked for explicitly.

``DEBUG`` defaults to off (``portal/settings.py``); the tests run the embedded
development default (SQLite, in-process Celery, the dev SECRET_KEY) unless the
caller's environment says otherwise. Set in ``os.environ`` so that the
subprocesses some tests start (``manage.py``, a Celery worker) see it too.
"""

from __future__ import annotations

import os

os.environ.setdefault("DEBUG", "true")

from portal.settings import *  # noqa: F403
