"""portal.cache: Django's Redis cache that goes on without Redis, and finds it again by itself."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from portal import cache as portal_cache
from portal.cache import CACHE_ERRORS, CacheUnavailable, OutageTolerantRedisCache
from tests.conftest import closed_port, redis_cache_at


def _cache_at(url: str) -> OutageTolerantRedisCache:
    config = redis_cache_at(url)
    return OutageTolerantRedisCache(config["LOCATION"], config)


def test_an_unreachable_redis_is_an_empty_cache_that_says_so_once(caplog):
    cache = _cache_at(f"redis://127.0.0.1:{closed_port()}/0")
    with caplog.at_level("WARNING", logger="portal.cache"):
        assert cache.get("k", "missed") == "missed"
        cache.set("k", 1)
        assert cache.get_many(["k", "j"]) == {}
        assert cache.set_many({"k": 1, "j": 2}) == ["k", "j"]
        assert cache.delete("k") is False
        assert cache.has_key("k") is False
    warnings = [r.getMessage() for r in caplog.records if r.name == "portal.cache"]
    assert len(warnings) == 1  # once per outage, not once per call
    assert warnings[0].startswith("The cache (Redis) is unreachable; going on without it until it is back: ")
    assert "Connection refused" in warnings[0]


def test_counting_and_claiming_still_raise_for_the_caller_to_decide():
    cache = _cache_at(f"redis://127.0.0.1:{closed_port()}/0")
    with pytest.raises(CACHE_ERRORS):
        cache.add("k", 0)
    # Within the pause after a failure it does not knock again: it says so at once.
    with pytest.raises(CacheUnavailable):
        cache.incr("k")


@pytest.mark.services
@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server to start and stop")
def test_the_cache_comes_back_by_itself_when_redis_does(monkeypatch, caplog):
    monkeypatch.setattr(portal_cache, "RETRY_AFTER_SECONDS", 0.2)
    port = closed_port()
    cache = _cache_at(f"redis://127.0.0.1:{port}/0")
    assert cache.get("k") is None  # down: a miss
    server = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.2)  # past the pause
        with caplog.at_level("WARNING", logger="portal.cache"):
            cache.set("k", "back")
            assert cache.get("k") == "back"
            assert cache.add("n", 0)
            assert cache.incr("n") == 1
        assert "The cache (Redis) is reachable again." in caplog.text
    finally:
        server.terminate()
        server.wait(10)
