"""The Celery worker's consumer (``CELERY_WORKER_CONSUMER``): it outlives a Redis outage and finds Redis soon after.

Reconnecting: kombu waits 2, 4, 6 … up to 30 s between tries, so after a long
outage a worker could sit idle for half a minute with Redis back. This consumer
tries every ``RECONNECT_INTERVAL_SECONDS`` instead, for as long as it takes
(``CELERY_BROKER_CONNECTION_MAX_RETRIES = None``): a connection attempt a second
costs Redis nothing, and the worker is back within that second.

Closing: when the broker connection drops while a task is running (our tasks
ack late, so its message is still unacknowledged), Celery collects the lost
connection, which detaches its transport (``client = None``), then closes it.
Closing asks kombu's Redis channel to put the unacked messages back, and kombu
reads Redis's address from that detached transport: ``AttributeError: 'NoneType'
object has no attribute 'hostname'``, which Celery takes for an unrecoverable
error, and the worker exits. The same happens later when a task that was
running acknowledges its message through the old channel. Nothing then
processes a task until someone restarts the worker (bench/load_faults.py's
fault run: 8 of 44 webhooks processed).

This consumer gives the lost connection's transport its address back, so that
both reach Redis (or fail as connection errors, which kombu logs and Celery
survives), and lets that close fail, logged, should it fail all the same.
Messages left unacknowledged stay in Redis's unacked set, from which kombu
restores them once its visibility timeout passes; what they asked for is also
redone sooner by the webhook outbox sweep and the periodic sync.
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
        # Celery's collect() detaches the lost connection's transport from it (client = None); the
        # channels still refer to that transport, and kombu reads the broker's address from its client.
        transport = getattr(connection, "_transport", None)

        def reattach() -> None:
            if transport is not None and transport.client is None:
                transport.client = connection

        if connection is not None:
            close = connection.close

            def close_lost_connection() -> None:
                reattach()  # closing restores unacked messages: it must know where Redis is
                try:
                    close()
                except AttributeError as error:  # kombu's, described above
                    logger.warning("The lost broker connection did not close cleanly (%s); reconnecting.", error)

            connection.close = close_lost_connection  # type: ignore[method-assign]  # this one object only
        super().on_connection_error_after_connected(exc)
        # A task still running acknowledges its message later, through the old channel: with the address
        # kept, that ack reaches Redis (or fails as a connection error, logged) instead of ending the worker.
        reattach()

    def ensure_connected(self, conn):
        conn.ensure_connection = functools.partial(  # this one connection only
            conn.ensure_connection,
            interval_start=RECONNECT_INTERVAL_SECONDS,
            interval_step=0,
            interval_max=RECONNECT_INTERVAL_SECONDS,
        )
        return super().ensure_connected(conn)
