"""Django's Redis cache, for a portal that keeps working while Redis is away.

The portal uses the cache to go faster (the pages' live version and rendered
regions) and to count (the API's rate limit). Neither may turn a Redis outage
into a 5xx: Django's own ``RedisCache`` raises redis' ``ConnectionError`` from
every call, so a page that only wanted a cached fragment answered 500.

``OutageTolerantRedisCache`` treats an unreachable Redis as an empty cache for
what is only a cache: ``get`` misses, ``set`` and ``delete`` do nothing, each
logged. What counts or claims (``add``, ``incr``, ``decr``) still raises, as
``CACHE_ERRORS``: a caller that counts must decide itself what a missing count
means (``api.auth.TokenRateLimit`` falls back to a per-process count).

After a failure the backend does not knock again for ``RETRY_AFTER_SECONDS``:
while Redis is down a page costs no connection attempt per cache call (a host
that drops packets would cost the connect timeout each time), and once it is
back the first call after that pause finds it again, so recovery takes at most
that long and needs no restart.

``RedisCacheClient`` keeps one redis-py client per connection pool. Django's
``get_client`` builds a new ``redis.Redis`` for every cache operation, and
building one fills its response-callback table (a few hundred entries): about
0.3 ms of CPU per ``cache.get``, more than the round trip to Redis, on every
request (session, user, live version). A client holds no state besides its pool,
and redis-py clients are safe to share between threads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# What an unreachable (or too slow) Redis raises; callers of add/incr/decr catch these.
CACHE_ERRORS: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)
RETRY_AFTER_SECONDS = 1.0


class CacheUnavailable(RedisConnectionError):
    """Redis failed a moment ago; this call did not try it again (see ``RETRY_AFTER_SECONDS``)."""


class _Breaker:
    """Whether Redis failed a moment ago, so that this call need not knock again."""

    def __init__(self) -> None:
        self.down_until: float | None = None  # None: up, as far as we know

    def is_open(self) -> bool:
        return self.down_until is not None and time.monotonic() < self.down_until

    def trip(self, error: Exception) -> None:
        if self.down_until is None:  # once per outage, not once per call
            logger.warning("The cache (Redis) is unreachable; going on without it until it is back: %s", error)
        self.down_until = time.monotonic() + RETRY_AFTER_SECONDS

    def reset(self) -> None:
        if self.down_until is not None:
            self.down_until = None
            logger.warning("The cache (Redis) is reachable again.")


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class OutageTolerantRedisCache(RedisCache):
    """``RedisCache`` whose reads miss and whose writes are skipped while Redis cannot be reached."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient  # one redis-py client per pool (see above)
        # Django keeps one cache object per thread, so each thread notices an outage (and its end) itself.
        self._breaker = _Breaker()

    def _call[T](self, operation: Callable[[], T], *, fallback: Any = None, degrade: bool = True) -> T:
        if self._breaker.is_open():
            if degrade:
                return fallback
            raise CacheUnavailable("The cache (Redis) was unreachable a moment ago.")
        try:
            result = operation()
        except CACHE_ERRORS as error:
            self._breaker.trip(error)
            if degrade:
                return fallback
            raise
        self._breaker.reset()
        return result

    # Only a cache: while Redis is away a read misses and a write is skipped.

    def get(self, key, default=None, version=None):
        return self._call(lambda: super(OutageTolerantRedisCache, self).get(key, default, version), fallback=default)

    def get_many(self, keys, version=None):
        return self._call(lambda: super(OutageTolerantRedisCache, self).get_many(keys, version), fallback={})

    def has_key(self, key, version=None):
        return self._call(lambda: super(OutageTolerantRedisCache, self).has_key(key, version), fallback=False)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self._call(lambda: super(OutageTolerantRedisCache, self).set(key, value, timeout, version))

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(
            lambda: super(OutageTolerantRedisCache, self).set_many(data, timeout, version), fallback=list(data)
        )

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(lambda: super(OutageTolerantRedisCache, self).touch(key, timeout, version), fallback=False)

    def delete(self, key, version=None):
        return self._call(lambda: super(OutageTolerantRedisCache, self).delete(key, version), fallback=False)

    def delete_many(self, keys, version=None):
        self._call(lambda: super(OutageTolerantRedisCache, self).delete_many(keys, version))

    # Counting and claiming: a missing answer is not "no", so the caller decides (CACHE_ERRORS).

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(
            lambda: super(OutageTolerantRedisCache, self).add(key, value, timeout, version), degrade=False
        )

    def incr(self, key, delta=1, version=None):
        return self._call(lambda: super(OutageTolerantRedisCache, self).incr(key, delta, version), degrade=False)
