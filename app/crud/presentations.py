"""Data access for presentations, slides and audiences, and the rule of who may see a deck."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, exists, func, or_, select, true
from sqlalchemy.orm import Session

from app.crud.users import normalize_email
from app.db import utcnow
from app.models.presentations import Audience, Presentation, PresentationViewer, Slide
from app.models.users import Role, User
from app.schemas.presentations import AudienceUpdate, PresentationCreate, PresentationUpdate, SlideCreate


class UnknownViewers(ValueError):
    """Some viewer ids name no active user."""


def visible_to(user: User) -> ColumnElement[bool]:
    """SQL condition for the decks this user may see: admins all; owners theirs; others active decks given
    to everyone or to them by name."""
    if user.role == Role.admin:
        return true()
    named = exists().where(
        PresentationViewer.presentation_id == Presentation.id, PresentationViewer.user_id == user.id
    )
    return or_(
        Presentation.owner_id == user.id,
        Presentation.is_active.is_(True) & ((Presentation.audience == Audience.everyone) | named),
    )


def can_view(*, session: Session, presentation: Presentation, user: User) -> bool:
    return bool(session.scalar(select(exists().where(Presentation.id == presentation.id, visible_to(user)))))


def can_manage(*, presentation: Presentation, user: User) -> bool:
    """Edit, audience and analytics rights: the owner (a presenter) or any admin."""
    return user.role == Role.admin or (user.role == Role.presenter and presentation.owner_id == user.id)


def get_presentation(*, session: Session, presentation_id: uuid.UUID) -> Presentation | None:
    return session.get(Presentation, presentation_id)


def list_visible_presentations(
    *, session: Session, user: User, offset: int, limit: int
) -> tuple[list[tuple[Presentation, int]], int]:
    """The page of decks the user may see, each with its slide count, and the total count."""
    condition = visible_to(user)
    total = session.scalar(select(func.count()).select_from(Presentation).where(condition)) or 0
    slide_count = (
        select(func.count()).where(Slide.presentation_id == Presentation.id).correlate(Presentation)
    ).scalar_subquery()
    rows = session.execute(
        select(Presentation, slide_count)
        .where(condition)
        .order_by(Presentation.created_at.desc(), Presentation.id)
        .offset(offset)
        .limit(limit)
    )
    return [(row[0], int(row[1])) for row in rows], total


def _slides(slides_in: Sequence[SlideCreate]) -> list[Slide]:
    return [
        Slide(position=position, title=slide.title, content=slide.content)
        for position, slide in enumerate(slides_in)
    ]


def _check_viewers(
    *, session: Session, viewer_ids: Sequence[uuid.UUID], viewer_emails: Sequence[str] = ()
) -> list[uuid.UUID]:
    """The named viewers' ids, in order, without repeats; UnknownViewers names the first missing ones."""
    unique = list(dict.fromkeys(viewer_ids))
    if unique:
        found = set(session.scalars(select(User.id).where(User.id.in_(unique), User.is_active.is_(True))))
        missing = [str(viewer) for viewer in unique if viewer not in found]
        if missing:
            raise UnknownViewers(f"viewer_ids: no active user with id {', '.join(missing[:5])}")
    emails = list(dict.fromkeys(normalize_email(email) for email in viewer_emails))
    if emails:
        by_email = {
            row.email: row.id
            for row in session.execute(
                select(User.email, User.id).where(User.email.in_(emails), User.is_active.is_(True))
            )
        }
        missing = [email for email in emails if email not in by_email]
        if missing:
            raise UnknownViewers(f"viewer_emails: no active user with email {', '.join(missing[:5])}")
        unique = list(dict.fromkeys([*unique, *(by_email[email] for email in emails)]))
    return unique


def create_presentation(
    *, session: Session, owner: User, presentation_in: PresentationCreate
) -> Presentation:
    viewers = _check_viewers(
        session=session, viewer_ids=presentation_in.viewer_ids, viewer_emails=presentation_in.viewer_emails
    )
    presentation = Presentation(
        title=presentation_in.title,
        subtitle=presentation_in.subtitle,
        owner_id=owner.id,
        audience=presentation_in.audience,
        slides=_slides(presentation_in.slides),
    )
    session.add(presentation)
    session.flush()
    session.add_all(PresentationViewer(presentation_id=presentation.id, user_id=viewer) for viewer in viewers)
    session.commit()
    return presentation


def update_presentation(
    *, session: Session, presentation: Presentation, presentation_in: PresentationUpdate
) -> Presentation:
    for field, value in presentation_in.model_dump(exclude_unset=True).items():
        if value is None and field != "subtitle":
            continue  # title and is_active cannot be null; an explicit null leaves them as they are
        setattr(presentation, field, value)
    session.commit()
    return presentation


def replace_slides(
    *, session: Session, presentation: Presentation, slides_in: Sequence[SlideCreate]
) -> Presentation:
    presentation.slides.clear()
    session.flush()  # delete the old rows first: (presentation_id, position) is unique
    presentation.slides.extend(_slides(slides_in))
    presentation.deck_version = None  # typed slides: no uploaded PDF's images match them any more
    presentation.updated_at = utcnow()  # a slide change is a change of the deck
    session.commit()
    session.refresh(presentation)
    return presentation


def get_viewers(*, session: Session, presentation: Presentation) -> list[tuple[uuid.UUID, str]]:
    """The named viewers' (id, email), by id."""
    return [
        (row.user_id, row.email)
        for row in session.execute(
            select(PresentationViewer.user_id, User.email)
            .join(User, User.id == PresentationViewer.user_id)
            .where(PresentationViewer.presentation_id == presentation.id)
            .order_by(PresentationViewer.user_id)
        )
    ]


def set_audience(
    *, session: Session, presentation: Presentation, audience_in: AudienceUpdate
) -> list[tuple[uuid.UUID, str]]:
    viewers = _check_viewers(
        session=session, viewer_ids=audience_in.viewer_ids, viewer_emails=audience_in.viewer_emails
    )
    presentation.audience = audience_in.audience
    session.execute(delete(PresentationViewer).where(PresentationViewer.presentation_id == presentation.id))
    session.add_all(PresentationViewer(presentation_id=presentation.id, user_id=viewer) for viewer in viewers)
    session.commit()
    return get_viewers(session=session, presentation=presentation)


def deactivate_presentation(*, session: Session, presentation: Presentation) -> Presentation:
    """Soft delete: the deck disappears for its audience but its viewing history and analytics stay."""
    presentation.is_active = False
    session.commit()
    return presentation
