"""Presentations: admins and presenters publish decks; everyone signed in reads what they are given."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from app.api.deps import CurrentUser, ManagedPresentation, PresenterUser, ReadablePresentation, SessionDep
from app.crud import presentations as presentations_crud
from app.models.presentations import Audience, Presentation
from app.schemas.common import Page, error_responses
from app.schemas.presentations import (
    AudiencePublic,
    AudienceUpdate,
    PresentationCreate,
    PresentationPublic,
    PresentationSummary,
    PresentationUpdate,
    SlidesReplace,
)

router = APIRouter(prefix="/presentations", tags=["presentations"])

Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Limit = Annotated[int, Query(ge=1, le=100)]
READ_ERRORS = error_responses(404)
WRITE_ERRORS = error_responses(403, 404)


def _unknown_viewers(error: presentations_crud.UnknownViewers) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error))


def _audience(audience: Audience, viewers: list[tuple[uuid.UUID, str]]) -> AudiencePublic:
    return AudiencePublic(
        audience=audience,
        viewer_ids=[viewer for viewer, _ in viewers],
        viewer_emails=[email for _, email in viewers],
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PresentationPublic)
def create_presentation(
    session: SessionDep, user: PresenterUser, presentation_in: PresentationCreate
) -> Presentation:
    try:
        return presentations_crud.create_presentation(
            session=session, owner=user, presentation_in=presentation_in
        )
    except presentations_crud.UnknownViewers as error:
        session.rollback()
        raise _unknown_viewers(error) from None


@router.get("", response_model=Page[PresentationSummary])
def list_presentations(
    session: SessionDep, user: CurrentUser, offset: Offset = 0, limit: Limit = 50
) -> Page[PresentationSummary]:
    """The decks the caller may see: admins all, presenters their own plus those given to them, viewers
    the active decks given to them by name or to everyone."""
    rows, count = presentations_crud.list_visible_presentations(
        session=session, user=user, offset=offset, limit=limit
    )
    return Page[PresentationSummary](
        data=[
            PresentationSummary.model_validate({**_columns(presentation), "slide_count": slide_count})
            for presentation, slide_count in rows
        ],
        count=count,
    )


def _columns(presentation: Presentation) -> dict[str, object]:
    return {
        column: getattr(presentation, column)
        for column in PresentationSummary.model_fields
        if column != "slide_count"
    }


@router.get("/{presentation_id}", response_model=PresentationPublic, responses=READ_ERRORS)
def read_presentation(presentation: ReadablePresentation) -> Presentation:
    return presentation


@router.patch("/{presentation_id}", response_model=PresentationPublic, responses=WRITE_ERRORS)
def update_presentation(
    session: SessionDep, presentation: ManagedPresentation, presentation_in: PresentationUpdate
) -> Presentation:
    return presentations_crud.update_presentation(
        session=session, presentation=presentation, presentation_in=presentation_in
    )


@router.put("/{presentation_id}/slides", response_model=PresentationPublic, responses=WRITE_ERRORS)
def replace_slides(
    session: SessionDep, presentation: ManagedPresentation, slides_in: SlidesReplace
) -> Presentation:
    """Replace every slide; positions are renumbered 0..n-1 in the given order."""
    return presentations_crud.replace_slides(
        session=session, presentation=presentation, slides_in=slides_in.slides
    )


@router.get("/{presentation_id}/audience", response_model=AudiencePublic, responses=WRITE_ERRORS)
def read_audience(session: SessionDep, presentation: ManagedPresentation) -> AudiencePublic:
    return _audience(
        presentation.audience, presentations_crud.get_viewers(session=session, presentation=presentation)
    )


@router.put("/{presentation_id}/audience", response_model=AudiencePublic, responses=WRITE_ERRORS)
def set_audience(
    session: SessionDep, presentation: ManagedPresentation, audience_in: AudienceUpdate
) -> AudiencePublic:
    """Give the deck to everyone signed in, or to the named viewers only (the list replaces the old one)."""
    try:
        viewers = presentations_crud.set_audience(
            session=session, presentation=presentation, audience_in=audience_in
        )
    except presentations_crud.UnknownViewers as error:
        session.rollback()
        raise _unknown_viewers(error) from None
    return _audience(presentation.audience, viewers)


@router.delete("/{presentation_id}", status_code=status.HTTP_204_NO_CONTENT, responses=WRITE_ERRORS)
def deactivate_presentation(session: SessionDep, presentation: ManagedPresentation) -> None:
    """Deactivate: the deck disappears for its audience; its history and analytics stay."""
    presentations_crud.deactivate_presentation(session=session, presentation=presentation)
