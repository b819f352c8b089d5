"""Optional Redis, degrading instead of failing.

With `PAP_REDIS_URL` unset the cache is in-process (one worker's memory). With Redis configured but down,
cache reads miss and writes are dropped (no in-process fallback: other workers could not see invalidations,
so a local copy could serve stale analytics); after a failure Redis is left alone for a short back-off and
then tried again, so the service reconnects by itself when Redis returns.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

import redis
import structlog
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = structlog.get_logger(__name__)

SOCKET_TIMEOUT_SECONDS = 0.5
# A stopped Redis container can cost a name lookup of a second or more (Docker's resolver forwards the unknown
# name upstream), so after a failure Redis is skipped for a while instead of being retried on every request.
RETRY_AFTER_FAILURE_SECONDS = 5.0
# Every Redis client of the service: short timeouts and no retries inside redis-py (its default retries three
# times with back-off); the back-off above is the one retry policy.
CONNECTION_OPTIONS: dict[str, Any] = {
    "socket_timeout": SOCKET_TIMEOUT_SECONDS,
    "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS,
    "retry": Retry(NoBackoff(), 0),
}
LOCAL_CACHE_MAX_ENTRIES = 1024


class Cache(Protocol):
    """What app code uses for caching; values are JSON-serialisable."""

    def get_json(self, key: str) -> Any | None: ...
    def set_json(self, key: str, value: Any, ttl: float) -> None: ...
    def delete_prefix(self, prefix: str) -> None: ...


class LocalCache:
    """In-process TTL cache, bounded in entries (least recently used dropped first); thread-safe."""

    def __init__(self, max_entries: int = LOCAL_CACHE_MAX_ENTRIES) -> None:
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def get_json(self, key: str) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires_at, payload = entry
            if expires_at <= time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
        return json.loads(payload)

    def set_json(self, key: str, value: Any, ttl: float) -> None:
        payload = json.dumps(value, default=str)
        with self._lock:
            self._entries[key] = (time.monotonic() + ttl, payload)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def delete_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [key for key in self._entries if key.startswith(prefix)]:
                del self._entries[key]


class RedisClient:
    """A Redis connection that reports failure instead of raising, and backs off after one."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(
            url,
            **CONNECTION_OPTIONS,
            health_check_interval=30,
            decode_responses=True,
        )
        self._down_until = 0.0

    @property
    def available(self) -> bool:
        """False during the back-off after a failure (calls are skipped then, costing nothing)."""
        return time.monotonic() >= self._down_until

    def mark_down(self, error: Exception) -> None:
        if self.available:
            logger.warning("redis_unavailable", error=type(error).__name__)
        self._down_until = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS

    def ping(self) -> bool:
        """A real round trip (for /health); during the back-off the recent failure is the answer."""
        if not self.available:
            return False
        try:
            healthy = bool(self.client.ping())
        except redis.RedisError as error:
            self.mark_down(error)
            return False
        self._down_until = 0.0
        return healthy

    def close(self) -> None:
        self.client.close()


class RedisCache:
    """The cache on Redis: misses and dropped writes while Redis is unreachable."""

    def __init__(self, connection: RedisClient, namespace: str = "pap:cache:") -> None:
        self._connection = connection
        self._namespace = namespace

    def get_json(self, key: str) -> Any | None:
        if not self._connection.available:
            return None
        try:
            payload = self._connection.client.get(self._namespace + key)
        except redis.RedisError as error:
            self._connection.mark_down(error)
            return None
        return json.loads(payload) if payload is not None else None

    def set_json(self, key: str, value: Any, ttl: float) -> None:
        if not self._connection.available:
            return
        try:
            self._connection.client.set(
                self._namespace + key, json.dumps(value, default=str), px=max(1, int(ttl * 1000))
            )
        except redis.RedisError as error:
            self._connection.mark_down(error)

    def delete_prefix(self, prefix: str) -> None:
        if not self._connection.available:
            return
        try:
            client = self._connection.client
            keys = list(client.scan_iter(match=self._namespace + prefix + "*", count=500))
            if keys:
                client.delete(*keys)
        except redis.RedisError as error:
            self._connection.mark_down(error)


def make_cache(connection: RedisClient | None) -> Cache:
    return RedisCache(connection) if connection is not None else LocalCache()
