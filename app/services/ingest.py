"""Event ingestion: validate a batch against its session, store it idempotently, keep the session row current.

Rules:
- Durations come only from server receive times (`now`, the request's clock); client timestamps only order.
- A session silent for longer than the idle setting ends at its last event; this is decided here, lazily,
  on the next batch (and by analytics reads), so no background job is needed for correctness.
- An ended session takes no new events: a batch with any unknown event_id gets SessionEndedError (409);
  a batch made only of already stored event_ids is an idempotent retry and succeeds with all duplicates.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.core.metrics import EVENTS_INGESTED, SESSIONS_ENDED
from app.crud import viewing as viewing_crud
from app.models.viewing import EndReason, ViewingSession
from app.schemas.viewing import EventIn, IngestResult


class SessionNotFoundError(LookupError):
    pass


class NotYourSessionError(PermissionError):
    pass


class SessionEndedError(Exception):
    def __init__(self, viewing: ViewingSession) -> None:
        super().__init__(
            f"session ended at {viewing.ended_at:%Y-%m-%dT%H:%M:%SZ} ({viewing.end_reason}); "
            "it takes no new events: open a new session"
        )


class SlideOutOfRangeError(ValueError):
    pass


@dataclass(frozen=True)
class Caller:
    """Who posts: the user, and the session their token is scoped to (None for an access token)."""

    user_id: uuid.UUID
    token_session_id: uuid.UUID | None


def is_idle(viewing: ViewingSession, *, now: datetime, idle: timedelta) -> bool:
    return viewing.ended_at is None and now - viewing.last_event_at > idle


def _check_slides(events: Sequence[EventIn], slide_count: int) -> None:
    for position, event in enumerate(events):
        if event.slide_index >= slide_count:
            raise SlideOutOfRangeError(
                f"events[{position}].slide_index is {event.slide_index}, but the deck of this session has "
                f"{slide_count} slides (valid: 0..{slide_count - 1})"
            )


def _unique_by_event_id(events: Sequence[EventIn]) -> list[EventIn]:
    """The batch without repeats of an event_id (the first one wins, like a retry would)."""
    return list({event.event_id: event for event in reversed(events)}.values())[::-1]


def ingest_batch(
    *,
    session: Session,
    session_id: uuid.UUID,
    caller: Caller,
    events: Sequence[EventIn],
    now: datetime,
    idle: timedelta,
) -> IngestResult:
    if caller.token_session_id is not None and caller.token_session_id != session_id:
        raise NotYourSessionError("the ingest token is scoped to another session")
    unique = _unique_by_event_id(events)
    fast = viewing_crud.ingest_into_open_session(
        session=session,
        session_id=session_id,
        viewer_id=caller.user_id,
        events=unique,
        received_at=now,
        idle=idle,
    )
    if fast is not None:
        session.commit()
        _count(accepted=fast.accepted, received=len(events), ended=fast.ended_at is not None)
        return IngestResult(
            accepted=fast.accepted,
            duplicates=len(events) - fast.accepted,
            session_ended=fast.ended_at is not None,
            ended_at=fast.ended_at,
        )
    return _ingest_detailed(
        session=session,
        session_id=session_id,
        caller=caller,
        events=events,
        unique=unique,
        now=now,
        idle=idle,
    )


def _count(*, accepted: int, received: int, ended: bool) -> None:
    if ended:
        SESSIONS_ENDED.labels(reason=EndReason.session_end.value).inc()
    EVENTS_INGESTED.labels(result="accepted").inc(accepted)
    EVENTS_INGESTED.labels(result="duplicate").inc(received - accepted)


def _ingest_detailed(
    *,
    session: Session,
    session_id: uuid.UUID,
    caller: Caller,
    events: Sequence[EventIn],
    unique: Sequence[EventIn],
    now: datetime,
    idle: timedelta,
) -> IngestResult:
    """Every case, step by step, with the session row locked: the reference path (the only one on SQLite)."""
    found = viewing_crud.get_session_for_ingest(session=session, session_id=session_id)
    if found is None:
        raise SessionNotFoundError("session not found")
    viewing, viewer_active = found
    if viewing.viewer_id != caller.user_id or not viewer_active:
        raise NotYourSessionError("this session belongs to another viewer")
    _check_slides(events, viewing.slide_count)

    if is_idle(viewing, now=now, idle=idle):
        viewing_crud.end_session(
            session=session, viewing=viewing, ended_at=viewing.last_event_at, reason=EndReason.idle
        )
        session.commit()
        SESSIONS_ENDED.labels(reason=EndReason.idle.value).inc()
    if viewing.ended_at is not None:
        known = viewing_crud.count_known_events(
            session=session, session_id=viewing.id, event_ids=[event.event_id for event in unique]
        )
        session.rollback()  # release the row lock
        if known != len(unique):
            raise SessionEndedError(viewing)
        EVENTS_INGESTED.labels(result="duplicate").inc(len(events))
        return IngestResult(accepted=0, duplicates=len(events), session_ended=True, ended_at=viewing.ended_at)

    stored = viewing_crud.insert_events(
        session=session, session_id=viewing.id, events=unique, received_at=now
    )
    if stored.count:
        viewing_crud.record_batch(session=session, viewing=viewing, stored=stored, received_at=now)
    session.commit()
    _count(accepted=stored.count, received=len(events), ended=stored.has_session_end)
    return IngestResult(
        accepted=stored.count,
        duplicates=len(events) - stored.count,
        session_ended=viewing.ended_at is not None,
        ended_at=viewing.ended_at,
    )
