"""A viewer's feedback on a deck: one each (a second POST is 409), replaced with PUT, read back with GET."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from sqlalchemy.exc import IntegrityError

from app.api.deps import CurrentUser, ReadablePresentation, SessionDep
from app.crud import viewing as viewing_crud
from app.models.viewing import Feedback
from app.schemas.common import ErrorResponse
from app.schemas.viewing import FeedbackIn, FeedbackPublic
from app.services.clock import server_now

router = APIRouter(prefix="/presentations/{presentation_id}/feedback", tags=["feedback"])

Now = Annotated[datetime, Depends(server_now)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such deck for you, or no feedback yet"}
}


def _own_feedback(session: SessionDep, user: CurrentUser, presentation: ReadablePresentation) -> Feedback:
    feedback = viewing_crud.get_feedback(session=session, presentation_id=presentation.id, viewer_id=user.id)
    if feedback is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="you have not given feedback on this deck yet")
    return feedback


OwnFeedback = Annotated[Feedback, Depends(_own_feedback)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedbackPublic,
    responses={**NOT_FOUND, 409: {"model": ErrorResponse, "description": "feedback already given: use PUT"}},
)
def create_feedback(
    feedback_in: FeedbackIn,
    presentation: ReadablePresentation,
    user: CurrentUser,
    session: SessionDep,
    now: Now,
) -> Feedback:
    try:
        return viewing_crud.create_feedback(
            session=session,
            presentation_id=presentation.id,
            viewer_id=user.id,
            feedback_in=feedback_in,
            now=now,
        )
    except IntegrityError:
        session.rollback()
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="you already gave feedback on this deck; use PUT to change it"
        ) from None


@router.put("", response_model=FeedbackPublic, responses=NOT_FOUND)
def replace_feedback(
    feedback_in: FeedbackIn, feedback: OwnFeedback, session: SessionDep, now: Now
) -> Feedback:
    return viewing_crud.replace_feedback(session=session, feedback=feedback, feedback_in=feedback_in, now=now)


@router.get("", response_model=FeedbackPublic, responses=NOT_FOUND)
def read_feedback(feedback: OwnFeedback) -> Feedback:
    return feedback
