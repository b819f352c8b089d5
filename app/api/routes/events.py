"""Event ingestion for one session: page batches (Bearer token) and the unload beacon (token in body)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.api.deps import SessionDep, SettingsDep
from app.core.config import Settings
from app.core.security import ACCESS_TOKEN_TYPE, InvalidTokenError, decode_scoped_token
from app.schemas.common import ErrorResponse
from app.schemas.viewing import BeaconBatch, EventBatch, EventIn, IngestResult
from app.services.clock import server_now
from app.services.ingest import (
    Caller,
    NotYourSessionError,
    SessionEndedError,
    SessionNotFoundError,
    SlideOutOfRangeError,
    ingest_batch,
)
from app.services.ingest_tokens import read_ingest_token

router = APIRouter(prefix="/sessions/{session_id}", tags=["events"])

Now = Annotated[datetime, Depends(server_now)]
SessionId = Annotated[uuid.UUID, Path(description="viewing session id")]
_bearer = HTTPBearer(
    auto_error=False,
    description="The session's ingest token (from POST /sessions) or the viewer's access token",
)

INGEST_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "no token, or an invalid or expired one"},
    403: {"model": ErrorResponse, "description": "the token is for another session or viewer"},
    404: {"model": ErrorResponse, "description": "no such session"},
    409: {"model": ErrorResponse, "description": "the session has ended; only retries of stored events pass"},
}


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _caller_from_ingest_token(token: str, settings: Settings) -> Caller:
    try:
        user_id, session_id = read_ingest_token(token, secret_key=settings.secret_key.get_secret_value())
    except (InvalidTokenError, ValueError, KeyError) as error:
        raise _unauthorized(f"ingest token rejected: {error}") from None
    return Caller(user_id=user_id, token_session_id=session_id)


def _caller_from_header(token: str, settings: Settings) -> Caller:
    """An ingest token, or else the viewer's own access token."""
    try:
        return _caller_from_ingest_token(token, settings)
    except HTTPException:
        pass
    try:
        claims = decode_scoped_token(
            token, secret_key=settings.secret_key.get_secret_value(), token_type=ACCESS_TOKEN_TYPE
        )
        return Caller(user_id=uuid.UUID(str(claims["sub"])), token_session_id=None)
    except (InvalidTokenError, ValueError) as error:
        raise _unauthorized(f"token rejected: {error}") from None


def _ingest(
    *,
    session: Session,
    settings: Settings,
    session_id: uuid.UUID,
    caller: Caller,
    events: list[EventIn],
    now: datetime,
) -> IngestResult:
    try:
        return ingest_batch(
            session=session,
            session_id=session_id,
            caller=caller,
            events=events,
            now=now,
            idle=timedelta(seconds=settings.session_idle),
        )
    except SessionNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from None
    except NotYourSessionError as error:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(error)) from None
    except SessionEndedError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from None
    except SlideOutOfRangeError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from None


@router.post("/events", response_model=IngestResult, responses=INGEST_RESPONSES)
def post_events(
    session_id: SessionId,
    batch: EventBatch,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> IngestResult:
    """Store a batch of up to 500 events; retried event_ids count as duplicates, never twice."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="not authenticated: send Authorization: Bearer <ingest token or access token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    caller = _caller_from_header(credentials.credentials, settings)
    return _ingest(
        session=session, settings=settings, session_id=session_id, caller=caller, events=batch.events, now=now
    )


# Inline the body schema; its EventIn reference resolves to the component /events already publishes.
_BEACON_SCHEMA = BeaconBatch.model_json_schema(ref_template="#/components/schemas/{model}")
_BEACON_SCHEMA.pop("$defs", None)


async def _beacon_body(request: Request) -> BeaconBatch:
    """sendBeacon posts a text/plain (or JSON) blob: parse it as JSON whatever its content type says."""
    try:
        return BeaconBatch.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False, include_context=False)) from None


@router.post(
    "/beacon",
    response_model=IngestResult,
    responses=INGEST_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _BEACON_SCHEMA},
                "text/plain": {"schema": {"type": "string", "description": "a BeaconBatch as JSON text"}},
            },
        }
    },
)
def post_beacon(
    session_id: SessionId,
    batch: Annotated[BeaconBatch, Depends(_beacon_body)],
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
) -> IngestResult:
    """The unload path: the ingest token rides in the body, since sendBeacon cannot send headers."""
    caller = _caller_from_ingest_token(batch.token, settings)
    return _ingest(
        session=session, settings=settings, session_id=session_id, caller=caller, events=batch.events, now=now
    )
