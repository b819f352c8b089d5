"""After a Redis failure the service leaves Redis alone for the back-off: an outage costs one slow call."""

import socket

import pytest

from app.core import redis as redis_module
from app.core.redis import RedisCache, RedisClient


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class CountingPings:
    def __init__(self, real: object) -> None:
        self.calls = 0
        self._real = real

    def __call__(self) -> bool:
        self.calls += 1
        return bool(self._real())  # type: ignore[operator]


def test_one_failure_then_no_round_trips_until_the_back_off_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    connection = RedisClient(f"redis://127.0.0.1:{_closed_port()}/0")
    pings = CountingPings(connection.client.ping)
    monkeypatch.setattr(connection.client, "ping", pings)
    cache = RedisCache(connection)

    assert connection.ping() is False
    assert pings.calls == 1
    assert not connection.available

    # During the back-off neither /health nor the cache touches Redis.
    assert connection.ping() is False
    assert cache.get_json("key") is None
    cache.set_json("key", {"a": 1}, ttl=5)
    assert pings.calls == 1

    # When the back-off is over, the next call tries Redis again (and reconnects when it is back).
    monkeypatch.setattr(redis_module.time, "monotonic", lambda: 1e12)
    assert connection.available
    assert connection.ping() is False
    assert pings.calls == 2


def test_redis_py_does_not_retry_on_its_own() -> None:
    connection = RedisClient("redis://127.0.0.1:6379/0")
    retry = connection.client.get_retry()
    assert retry is not None and retry.get_retries() == 0
