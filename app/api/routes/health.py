"""Health for load balancers and container healthchecks, and Prometheus metrics for operators."""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from app import __version__
from app.api.deps import ResourcesDep
from app.core.metrics import CONTENT_TYPE_LATEST, render_metrics

router = APIRouter(tags=["health"])

State = Literal["healthy", "unhealthy"]


class Health(BaseModel):
    status: State
    database: State
    redis: Literal["healthy", "unhealthy", "disabled"]
    version: str  # the running build: a rolling update is done when every answer carries the new one


class Liveness(BaseModel):
    status: Literal["alive"]
    version: str


def _database_state(resources: ResourcesDep) -> State:
    try:
        with resources.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # any failure to round-trip means the service cannot serve
        return "unhealthy"
    return "healthy"


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(resources: ResourcesDep) -> JSONResponse:
    """200 when the database (and Redis, when configured) answer; 503, same body, naming the failure."""
    database = _database_state(resources)
    redis_state: Literal["healthy", "unhealthy", "disabled"] = "disabled"
    if resources.redis is not None:
        redis_state = "healthy" if resources.redis.ping() else "unhealthy"
    healthy = database == "healthy" and redis_state != "unhealthy"
    body = Health(
        status="healthy" if healthy else "unhealthy",
        database=database,
        redis=redis_state,
        version=__version__,
    )
    return JSONResponse(
        body.model_dump(), status_code=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE
    )


@router.get("/health/live", response_model=Liveness)
async def live() -> Liveness:
    """200 while the process serves requests; checks nothing else (for container healthchecks)."""
    return Liveness(status="alive", version=__version__)


def _require_metrics_token(
    resources: ResourcesDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    token = resources.settings.metrics_token
    if token is None:
        if resources.settings.is_development:
            return
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Not Found")
    expected = f"Bearer {token.get_secret_value()}".encode()
    if authorization is None or not hmac.compare_digest(authorization.encode(), expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="metrics need Authorization: Bearer <PAP_METRICS_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )


@router.get(
    "/metrics",
    dependencies=[Depends(_require_metrics_token)],
    response_class=Response,
    include_in_schema=False,
)
def metrics() -> Response:
    """Prometheus text format; off (404) outside development unless PAP_METRICS_TOKEN is set."""
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)
