"""The web process's server (uvicorn, portal/asgi.py's composition) in a thread, on a loopback port.

pytest-django's ``live_server`` is a WSGI server, on which the events view answers
204 by design; push needs the ASGI one. It serves the test database (use it with
``transactional_db``: its threads have connections of their own) and the static
files from the finders, like ``live_server``.
"""

from __future__ import annotations

import contextlib
import gc
import socket
import threading
import time
from collections.abc import Iterator


@contextlib.contextmanager
def asgi_server() -> Iterator[str]:
    """The base URL of uvicorn serving ``portal.asgi``'s application, for the block's duration."""
    import uvicorn
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler, StaticFilesHandler
    from django.core.asgi import get_asgi_application
    from django.core.wsgi import get_wsgi_application
    from django.db import connections

    from portal.serving import ByView, WSGIInThreads

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The production composition (portal/asgi.py), with static files served from the finders.
    threads = WSGIInThreads(StaticFilesHandler(get_wsgi_application()), threads=4)
    application = ByView(asgi=ASGIStaticFilesHandler(get_asgi_application()), wsgi=threads)
    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    # As in production (a pool, portal/settings.py): each request gives its connection back at its
    # end. Kept per thread, they would outlive the request threads and block dropping the test database.
    database = connections.settings["default"]
    kept = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="asgi-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        threads.shutdown()
        database["CONN_MAX_AGE"] = kept
        gc.collect()  # the connections of request threads that ended without request_finished
