"""Sessions read from the cache and written through to the database, and still there when the cache is not.

Django's ``cached_db`` store already falls back to the database when a cache read
fails, but it then re-fills the cache, and a sign-out deletes from it, without a
guard: with Redis down every request would fail. Here those two writes are
guarded too, so with Redis down sessions are simply database sessions.
"""

from __future__ import annotations

import logging

from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore

logger = logging.getLogger("django.contrib.sessions")


class _GuardedCache:
    """The session cache, with failures logged and treated as a miss."""

    def __init__(self, cache) -> None:
        self._inner = cache

    def get(self, key, default=None):
        try:
            return self._inner.get(key, default)
        except Exception:
            logger.warning("Session cache unreachable; reading the session from the database", exc_info=True)
            return default

    def set(self, key, value, timeout=None) -> None:
        try:
            self._inner.set(key, value, timeout)
        except Exception:
            logger.warning("Session cache unreachable; session kept in the database only", exc_info=True)

    def delete(self, key) -> None:
        try:
            self._inner.delete(key)
        except Exception:
            # A sign-out still ends the session: the database row is gone, and a cached copy
            # cannot outlive it by more than the time the cache was unreachable.
            logger.warning("Session cache unreachable; a session's cached copy was not deleted", exc_info=True)

    def __contains__(self, key) -> bool:
        try:
            return key in self._inner
        except Exception:
            return False


class SessionStore(CachedDBStore):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._cache = _GuardedCache(self._cache)  # type: ignore[has-type]
