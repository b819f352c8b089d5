"""Viewing sessions: a viewer opens one on a deck they may see and gets a session-scoped ingest token."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status

from app.api.deps import CurrentUser, SessionDep, SettingsDep
from app.core.metrics import SESSIONS_ENDED, SESSIONS_OPENED
from app.crud import presentations as presentations_crud
from app.crud import viewing as viewing_crud
from app.models.viewing import EndReason
from app.schemas.common import ErrorResponse
from app.schemas.viewing import SessionCreate, SessionOpened, SessionPublic
from app.services.clock import server_now
from app.services.ingest import is_idle
from app.services.ingest_tokens import INGEST_TOKEN_TTL, create_ingest_token

router = APIRouter(prefix="/sessions", tags=["sessions"])

Now = Annotated[datetime, Depends(server_now)]
SessionId = Annotated[uuid.UUID, Path(description="viewing session id")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionOpened,
    responses={404: {"model": ErrorResponse, "description": "no such deck, or not given to you"}},
)
def open_session(
    session_in: SessionCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep, now: Now
) -> SessionOpened:
    presentation = presentations_crud.get_presentation(
        session=session, presentation_id=session_in.presentation_id
    )
    if presentation is None or not presentations_crud.can_view(
        session=session, presentation=presentation, user=user
    ):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="presentation not found")
    viewing = viewing_crud.create_session(
        session=session,
        presentation_id=presentation.id,
        viewer_id=user.id,
        slide_count=len(presentation.slides),
        now=now,
    )
    SESSIONS_OPENED.inc()
    token = create_ingest_token(
        secret_key=settings.secret_key.get_secret_value(), user_id=user.id, session_id=viewing.id
    )
    return SessionOpened(
        **SessionPublic.model_validate(viewing).model_dump(),
        ingest_token=token,
        ingest_token_expires_at=now + INGEST_TOKEN_TTL,
        idle_timeout_seconds=settings.session_idle,
    )


@router.get(
    "/{session_id}",
    response_model=SessionPublic,
    responses={403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
)
def read_session(
    session_id: SessionId, user: CurrentUser, session: SessionDep, settings: SettingsDep, now: Now
) -> SessionPublic:
    """The session's state for its viewer, the deck's owner or an admin (an idle session shows as ended)."""
    viewing = viewing_crud.get_session(session=session, session_id=session_id)
    if viewing is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="session not found")
    if viewing.viewer_id != user.id:
        presentation = presentations_crud.get_presentation(
            session=session, presentation_id=viewing.presentation_id
        )
        if presentation is None or not presentations_crud.can_manage(presentation=presentation, user=user):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="not your session")
    if is_idle(viewing, now=now, idle=timedelta(seconds=settings.session_idle)):
        viewing_crud.end_session(
            session=session, viewing=viewing, ended_at=viewing.last_event_at, reason=EndReason.idle
        )
        session.commit()
        SESSIONS_ENDED.labels(reason=EndReason.idle.value).inc()
    return SessionPublic.model_validate(viewing)
