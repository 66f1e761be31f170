"""The Celery worker's consumer, made to outlive a Redis outage (``CELERY_WORKER_CONSUMER``).

When the broker connection drops while a task is running (our tasks ack late,
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

import logging

from celery.worker.consumer import Consumer as CeleryConsumer

logger = logging.getLogger(__name__)


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
