"""Rate limits with the `limits` library, shared across workers through Redis when it is configured.

Rules (moving windows, so there is no double burst at a window edge):
- login: 5 attempts per minute per client address, and 5 per minute per account (email), counted apart;
- API: 20 requests per 2 seconds per client address: a sustained 10 requests/s, with bursts of up to 20
  (what nginx calls `rate=10r/s burst=10`); `PAP_API_RATE_LIMIT` changes it or turns it off.
While Redis is unreachable the limits are counted in this process instead (per worker, so looser by the
number of workers) and move back to Redis after the back-off in app.core.redis.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import redis
from limits import RateLimitItem, RateLimitItemPerMinute, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter

from app.core.redis import CONNECTION_OPTIONS, RedisClient

LOGIN_PER_ADDRESS = RateLimitItemPerMinute(5, namespace="login-address")
LOGIN_PER_ACCOUNT = RateLimitItemPerMinute(5, namespace="login-account")
DEFAULT_API_LIMIT = "20/2 seconds"


def parse_api_limit(text: str) -> RateLimitItem | None:
    """The API rule from its setting; None when the setting is "off"."""
    if text.strip().lower() == "off":
        return None
    item = parse(text)
    return type(item)(item.amount, item.multiples, namespace="api")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int  # whole seconds until a new request may pass; 0 when allowed


class RateLimiter:
    """Counts hits in Redis when configured and reachable, in process memory otherwise."""

    def __init__(
        self,
        redis_url: str | None = None,
        connection: RedisClient | None = None,
        api_limit: str = DEFAULT_API_LIMIT,
    ) -> None:
        self.api_rule = parse_api_limit(api_limit)
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        self._connection = connection
        if redis_url is not None and connection is not None:
            storage = RedisStorage(
                redis_url,
                key_prefix="pap:ratelimit",
                wrap_exceptions=True,
                **CONNECTION_OPTIONS,
            )
            self._shared = MovingWindowRateLimiter(storage)

    @staticmethod
    def _verdict(limiter: MovingWindowRateLimiter, rule: RateLimitItem, key: str) -> Verdict:
        if limiter.hit(rule, key):
            return Verdict(True, 0)
        reset_at = limiter.get_window_stats(rule, key).reset_time
        return Verdict(False, max(1, math.ceil(reset_at - time.time())))

    def hit(self, rule: RateLimitItem, key: str) -> Verdict:
        """Count one request against the rule for this key and say whether it may pass."""
        if self._shared is not None and self._connection is not None and self._connection.available:
            try:
                return self._verdict(self._shared, rule, key)
            except (StorageError, redis.RedisError) as error:
                self._connection.mark_down(error)
        return self._verdict(self._local, rule, key)


class UnlimitedRateLimiter(RateLimiter):
    """Lets everything pass; tests that are not about rate limits install it through a dependency override."""

    def __init__(self) -> None:
        self.api_rule = None

    def hit(self, rule: RateLimitItem, key: str) -> Verdict:
        return Verdict(True, 0)
