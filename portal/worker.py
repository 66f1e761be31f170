"""The Celery worker's consumer (``CELERY_WORKER_CONSUMER``): it outlives a Redis outage and finds Redis soon after.

Reconnecting: kombu waits 2, 4, 6 … up to 30 s between tries, so after a long
outage a worker could sit idle for half a minute with Redis back. This consumer
tries every ``RECONNECT_INTERVAL_SECONDS`` instead, for as long as it takes
(``CELERY_BROKER_CONNECTION_MAX_RETRIES = None``): a connection attempt a second
costs Redis nothing, and the worker is back within that second.

Closing: when the broker connection drops while a task is running (our tasks ack late,
so its message is still unacknowledged), Celery closes the broken connection
before reconnecting. Closing it asks kombu's Redis channel to put the unacked
messages back, through a transport that Celery has already collected: kombu
raises ``AttributeError: 'NoneType' object has no attribute 'hostname'``, which
Celery takes for an unrecoverable error, and the worker exits. Nothing then
processes a task until someone restarts it (seen in bench/load_faults.py's
fault run: 8 of 44 webhooks processed).

This consumer lets that one close fail (logged) and leaves the rest of Celery's
handling as it is: it reconnects with its usual backoff. The unacknowledged
messages stay in Redis's unacked set, from which kombu restores them once its
visibility timeout passes; what they asked for is also redone sooner by the
webhook outbox sweep and the periodic sync.
"""

from __future__ import annotations

import functools
import logging

from celery.worker.consumer import Consumer as CeleryConsumer

logger = logging.getLogger(__name__)

RECONNECT_INTERVAL_SECONDS = 1.0


class Consumer(CeleryConsumer):
    def on_connection_error_after_connected(self, exc: Exception) -> None:
        connection = self.connection
        if connection is not None:
            close = connection.close

            def close_broken_connection() -> None:
                try:
                    close()
                except AttributeError as error:  # kombu's, described above
                    logger.warning("The lost broker connection did not close cleanly (%s); reconnecting.", error)

            connection.close = close_broken_connection  # type: ignore[method-assign]  # this one object only
        super().on_connection_error_after_connected(exc)

    def ensure_connected(self, conn):
        conn.ensure_connection = functools.partial(  # this one connection only
            conn.ensure_connection,
            interval_start=RECONNECT_INTERVAL_SECONDS,
            interval_step=0,
            interval_max=RECONNECT_INTERVAL_SECONDS,
        )
        return super().ensure_connected(conn)
