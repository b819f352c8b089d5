"""The cache API the analytics use: in-process when Redis is not configured, Redis when it is."""

from __future__ import annotations

import time

import pytest

from app.core.redis import LocalCache, RedisCache, RedisClient
from tests.app.conftest import Backend


def test_local_cache_expires_and_stays_bounded() -> None:
    cache = LocalCache(max_entries=3)
    cache.set_json("a", {"x": 1}, ttl=0.05)
    assert cache.get_json("a") == {"x": 1}
    time.sleep(0.08)
    assert cache.get_json("a") is None
    for key in ("k1", "k2", "k3"):
        cache.set_json(key, key, ttl=60)
    cache.get_json("k1")  # recently used: survives the eviction below
    cache.set_json("k4", "k4", ttl=60)
    assert [cache.get_json(key) for key in ("k1", "k2", "k3", "k4")] == ["k1", None, "k3", "k4"]


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_delete_prefix_only_drops_matching_keys(kind: str, redis_backend: Backend) -> None:
    if kind == "local":
        cache: LocalCache | RedisCache = LocalCache()
    else:
        assert redis_backend.redis is not None
        cache = RedisCache(RedisClient(redis_backend.settings().redis_url_with_password or ""))
    cache.set_json("analytics:p1:summary", {"n": 1}, ttl=60)
    cache.set_json("analytics:p1:slides", [1, 2], ttl=60)
    cache.set_json("analytics:p2:summary", {"n": 2}, ttl=60)
    cache.delete_prefix("analytics:p1:")
    assert cache.get_json("analytics:p1:summary") is None
    assert cache.get_json("analytics:p1:slides") is None
    assert cache.get_json("analytics:p2:summary") == {"n": 2}


def test_redis_cache_misses_quickly_when_redis_is_unreachable() -> None:
    from tests.app.servers import free_port

    cache = RedisCache(RedisClient(f"redis://127.0.0.1:{free_port()}/0"))
    started = time.monotonic()
    cache.set_json("k", 1, ttl=60)
    assert cache.get_json("k") is None
    cache.delete_prefix("k")
    assert time.monotonic() - started < 2  # one failed connect, then the back-off skips Redis entirely
