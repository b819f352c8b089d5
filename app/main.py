"""The application factory and the module-level `app` uvicorn serves (`app.main:app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sentry_sdk
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from app import __version__
from app.api.router import api_router, root_router
from app.api.routes.decks import DECK_UPLOAD_PATH
from app.core.config import Settings, get_settings
from app.core.logging import configure_logging
from app.core.metrics import DB_POOL_CHECKED_OUT, DB_POOL_OVERFLOW, DB_POOL_SIZE
from app.docs import add_docs
from app.exception_handlers import install_exception_handlers
from app.middleware.body_limit import BodyLimitMiddleware
from app.middleware.request_context import REQUEST_ID_HEADER, RequestContextMiddleware
from app.middleware.security_headers import SecurityHeadersMiddleware
from app.middleware.trusted_host import JSONTrustedHostMiddleware
from app.resources import Resources

DOCS_URL = "/docs"
OPENAPI_URL = "/openapi.json"


def _init_sentry(settings: Settings) -> None:
    if settings.sentry_dsn is None:
        return
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.environment,
        send_default_pii=False,
        traces_sample_rate=0.0,
    )


def _pool_gauges(resources: Resources) -> None:
    pool = resources.engine.pool
    size = getattr(pool, "size", None)
    if callable(size):  # QueuePool (PostgreSQL); SQLite's pool has no size to report
        DB_POOL_SIZE.set(size())
        DB_POOL_CHECKED_OUT.set(pool.checkedout())  # type: ignore[attr-defined]
        DB_POOL_OVERFLOW.set(max(0, pool.overflow()))  # type: ignore[attr-defined]


def create_app(settings: Settings | None = None) -> FastAPI:
    """A fully wired app for these settings (tests build one per backend)."""
    settings = settings or get_settings()
    configure_logging(settings.effective_log_level)
    _init_sentry(settings)
    resources = Resources.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        resources.close()

    app = FastAPI(
        title="Presentation Analytics Platform",
        version=__version__,
        debug=False,  # tracebacks never go to clients; PAP_DEBUG only raises log detail
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_URL if settings.docs_enabled else None,
        lifespan=lifespan,
    )
    app.state.resources = resources
    if settings.docs_enabled:
        add_docs(app, docs_url=DOCS_URL, openapi_url=OPENAPI_URL)
    app.include_router(root_router)
    app.include_router(api_router)
    install_exception_handlers(app)

    # Added innermost first: the last one added runs first on a request.
    # Every body is small (JSON), except a deck's PDF: that route may take up to PAP_DECK_MAX_BYTES.
    app.add_middleware(BodyLimitMiddleware, larger=(("POST", DECK_UPLOAD_PATH, settings.deck_max_bytes),))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
            allow_credentials=False,  # bearer tokens, no cookies
            max_age=600,
        )
    app.add_middleware(JSONTrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(RequestContextMiddleware, after_request=lambda: _pool_gauges(resources))
    app.add_middleware(SecurityHeadersMiddleware, docs_prefix=DOCS_URL if settings.docs_enabled else None)
    return app


def __getattr__(name: str) -> FastAPI:
    # `app` is built on first access, not at import, so importing app.main (tests, tools) reads no settings.
    if name == "app":
        instance = create_app()
        globals()["app"] = instance
        return instance
    raise AttributeError(name)
