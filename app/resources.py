"""The long-lived resources one app instance uses (engine, sessions, Redis, cache, rate limiter,
the deck renderer's slots), built from
settings in one place so tests can build as many independent apps as they need."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.ratelimit import RateLimiter
from app.core.redis import Cache, RedisClient, make_cache
from app.db import make_engine, make_session_factory
from app.services.decks import Renderer


@dataclass
class Resources:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    redis: RedisClient | None
    cache: Cache
    rate_limiter: RateLimiter = field(repr=False)
    deck_renderer: Renderer = field(repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Resources:
        engine = make_engine(settings.database_url_with_password, pool_size=settings.db_pool_size)
        redis_url = settings.redis_url_with_password
        redis_client = RedisClient(redis_url) if redis_url else None
        return cls(
            settings=settings,
            engine=engine,
            session_factory=make_session_factory(engine),
            redis=redis_client,
            cache=make_cache(redis_client),
            rate_limiter=RateLimiter(redis_url, redis_client, api_limit=settings.api_rate_limit),
            deck_renderer=Renderer(settings),
        )

    def close(self) -> None:
        self.engine.dispose()
        if self.redis is not None:
            self.redis.close()
