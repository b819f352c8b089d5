"""Data access for viewing sessions, events, slide rollups and feedback. Keyword-only, verb-first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, func, insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from app.crud.sqltime import epoch_seconds
from app.models.users import User
from app.models.viewing import EndReason, Event, EventType, Feedback, SessionSlideStats, ViewingSession
from app.schemas.viewing import EventIn, FeedbackIn

# Events that end the visit of the slide before them (a heartbeat only says the viewer is still there).
VISIT_BOUNDARIES = (EventType.slide_enter, EventType.slide_leave, EventType.session_end)


# Events with equal client timestamps: leaving a slide comes before entering the next, the end comes last.
_SAME_INSTANT_ORDER = case(
    {EventType.slide_leave: 0, EventType.slide_enter: 1, EventType.heartbeat: 2, EventType.session_end: 3},
    value=Event.type,
)


# --- sessions ---------------------------------------------------------------------------------------------


def create_session(
    *, session: Session, presentation_id: uuid.UUID, viewer_id: uuid.UUID, slide_count: int, now: datetime
) -> ViewingSession:
    viewing = ViewingSession(
        presentation_id=presentation_id,
        viewer_id=viewer_id,
        slide_count=slide_count,
        started_at=now,
        last_event_at=now,
    )
    session.add(viewing)
    session.commit()
    return viewing


def get_session(*, session: Session, session_id: uuid.UUID, lock: bool = False) -> ViewingSession | None:
    """The session; with lock, its row is locked (PostgreSQL) so concurrent batches of it serialise."""
    statement = select(ViewingSession).where(ViewingSession.id == session_id)
    if lock:
        statement = statement.with_for_update()
    return session.scalar(statement)


def get_session_for_ingest(*, session: Session, session_id: uuid.UUID) -> tuple[ViewingSession, bool] | None:
    """The session, row-locked (on PostgreSQL) so its batches serialise, and whether its viewer is active."""
    row = session.execute(
        select(ViewingSession, User.is_active)
        .join(User, User.id == ViewingSession.viewer_id)
        .where(ViewingSession.id == session_id)
        .with_for_update(of=ViewingSession)
    ).first()
    return (row[0], bool(row[1])) if row is not None else None


def end_session(*, session: Session, viewing: ViewingSession, ended_at: datetime, reason: EndReason) -> None:
    viewing.ended_at = ended_at
    viewing.end_reason = reason
    session.flush()


def end_idle_sessions(
    *, session: Session, now: datetime, idle: timedelta, presentation_id: uuid.UUID | None = None
) -> int:
    """End every open session silent since before now - idle, at its last event; returns how many."""
    statement = (
        update(ViewingSession)
        .where(ViewingSession.ended_at.is_(None), ViewingSession.last_event_at < now - idle)
        .values(ended_at=ViewingSession.last_event_at, end_reason=EndReason.idle)
        .execution_options(synchronize_session=False)
    )
    if presentation_id is not None:
        statement = statement.where(ViewingSession.presentation_id == presentation_id)
    ended: int = session.execute(statement).rowcount  # type: ignore[attr-defined]
    return ended


# --- events -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredEvents:
    """What a batch added: the rows actually inserted (retried event_ids excluded)."""

    count: int
    furthest_slide: int | None
    has_session_end: bool


_POSTGRES_INSERT = """
INSERT INTO events (event_id, session_id, type, slide_index, client_ts, received_at)
SELECT batch.event_id, %(session_id)s, batch.type, batch.slide_index, batch.client_ts, %(received_at)s
FROM unnest(%(event_ids)s::uuid[], %(types)s::varchar[], %(slides)s::int[], %(client_ts)s::timestamptz[])
    AS batch(event_id, type, slide_index, client_ts)
ON CONFLICT (session_id, event_id) DO NOTHING
RETURNING type, slide_index
"""


def insert_events(
    *, session: Session, session_id: uuid.UUID, events: Sequence[EventIn], received_at: datetime
) -> StoredEvents:
    """Insert the batch in one statement, skipping event_ids the session already has (idempotent retries)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # One round trip with four array parameters: no per-row SQL or ORM objects on the hot ingest path.
        rows = connection.exec_driver_sql(
            _POSTGRES_INSERT,
            {
                "session_id": session_id,
                "received_at": received_at,
                "event_ids": [event.event_id for event in events],
                "types": [event.type.value for event in events],
                "slides": [event.slide_index for event in events],
                "client_ts": [event.client_ts for event in events],
            },
        ).all()
    else:
        statement = (
            sqlite.insert(Event)
            .on_conflict_do_nothing(index_elements=["session_id", "event_id"])
            .returning(Event.type, Event.slide_index)
        )
        rows = list(
            session.execute(
                statement,
                [
                    {
                        "event_id": event.event_id,
                        "session_id": session_id,
                        "type": event.type,
                        "slide_index": event.slide_index,
                        "client_ts": event.client_ts,
                        "received_at": received_at,
                    }
                    for event in events
                ],
            )
        )
    slides = [int(row[1]) for row in rows]
    return StoredEvents(
        count=len(rows),
        furthest_slide=max(slides) if slides else None,
        has_session_end=any(str(row[0]) == EventType.session_end.value for row in rows),
    )


@dataclass(frozen=True)
class FastIngest:
    accepted: int
    ended_at: datetime | None


# The batch commits durably like every other write: an acknowledged event survives a PostgreSQL crash.
_POSTGRES_INGEST_OPEN_SESSION = """
WITH open_session AS (
    SELECT v.id FROM viewing_sessions AS v JOIN users AS u ON u.id = v.viewer_id
    WHERE v.id = %(session_id)s AND v.viewer_id = %(viewer_id)s AND u.is_active AND v.ended_at IS NULL
      AND v.last_event_at >= %(idle_since)s AND v.slide_count > %(max_slide)s
),
inserted AS (
    INSERT INTO events (event_id, session_id, type, slide_index, client_ts, received_at)
    SELECT batch.event_id, open_session.id, batch.type, batch.slide_index, batch.client_ts, %(received_at)s
    FROM open_session,
         unnest(%(event_ids)s::uuid[], %(types)s::varchar[], %(slides)s::int[], %(client_ts)s::timestamptz[])
            AS batch(event_id, type, slide_index, client_ts)
    ON CONFLICT (session_id, event_id) DO NOTHING
    RETURNING slide_index, type
),
stored AS (
    SELECT count(*) AS n, max(slide_index) AS furthest, bool_or(type = 'session_end') AS ends FROM inserted
),
updated AS (
    UPDATE viewing_sessions AS v SET
        last_event_at = GREATEST(v.last_event_at, %(received_at)s),
        event_count = v.event_count + stored.n,
        events_version = v.events_version + 1,
        furthest_slide = GREATEST(v.furthest_slide, stored.furthest),
        reached_last_slide = GREATEST(v.furthest_slide, stored.furthest) >= v.slide_count - 1,
        ended_at = CASE WHEN stored.ends THEN %(received_at)s END,
        end_reason = CASE WHEN stored.ends THEN 'session_end' END
    FROM stored
    WHERE v.id = %(session_id)s AND stored.n > 0 AND v.ended_at IS NULL
    RETURNING v.ended_at
)
SELECT (SELECT count(*) FROM open_session), stored.n, (SELECT ended_at FROM updated) FROM stored
"""


def ingest_into_open_session(
    *,
    session: Session,
    session_id: uuid.UUID,
    viewer_id: uuid.UUID,
    events: Sequence[EventIn],
    received_at: datetime,
    idle: timedelta,
) -> FastIngest | None:
    """PostgreSQL's one-statement path for the common case: the viewer's own open session and slides in range.

    Checks, inserts and folds the batch into the session row in one round trip (no row fetched first). None
    when the case is not the common one (or not PostgreSQL): the caller then takes the detailed path, which
    says why (404, 403, 409, 422) or acknowledges a retry. Commits nothing.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return None
    row = connection.exec_driver_sql(
        _POSTGRES_INGEST_OPEN_SESSION,
        {
            "session_id": session_id,
            "viewer_id": viewer_id,
            "idle_since": received_at - idle,
            "max_slide": max(event.slide_index for event in events),
            "received_at": received_at,
            "event_ids": [event.event_id for event in events],
            "types": [event.type.value for event in events],
            "slides": [event.slide_index for event in events],
            "client_ts": [event.client_ts for event in events],
        },
    ).one()
    if row[0] == 0:
        return None
    return FastIngest(accepted=int(row[1]), ended_at=row[2])


def count_known_events(*, session: Session, session_id: uuid.UUID, event_ids: Sequence[uuid.UUID]) -> int:
    """How many of these event_ids the session already stored."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.session_id == session_id, Event.event_id.in_(list(event_ids)))
        )
        or 0
    )


def record_batch(
    *, session: Session, viewing: ViewingSession, stored: StoredEvents, received_at: datetime
) -> None:
    """Fold a stored batch into the session row: last receive time, progress, counters, rollup staleness."""
    viewing.last_event_at = max(viewing.last_event_at, received_at)
    viewing.event_count += stored.count
    viewing.events_version += 1
    if stored.furthest_slide is not None:
        viewing.furthest_slide = max(viewing.furthest_slide or 0, stored.furthest_slide)
        viewing.reached_last_slide = viewing.furthest_slide >= viewing.slide_count - 1
    if stored.has_session_end and viewing.ended_at is None:
        viewing.ended_at = received_at
        viewing.end_reason = EndReason.session_end
    session.flush()


# --- slide rollups ----------------------------------------------------------------------------------------


def _lock_presentation_rollups(*, session: Session, presentation_id: uuid.UUID) -> None:
    # Two concurrent readers must not rebuild the same rollups at once (PostgreSQL; SQLite writes serialise).
    if session.connection().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(presentation_id.int & 0x7FFF_FFFF_FFFF_FFFF)))


def refresh_slide_rollups(*, session: Session, presentation_id: uuid.UUID) -> int:
    """Rebuild session_slide_stats for the sessions of this deck whose events changed since their last build.

    A visit starts at a slide_enter and ends at the next boundary event (slide_enter, slide_leave,
    session_end) in client order (ties at one client instant: leave, enter, heartbeat, end); its dwell is
    the difference of the two events' *server receive* times, never below zero (a retried batch can
    arrive after later ones). A visit with no boundary after it ends at the session's last receive time.
    Returns the number of sessions rebuilt; commits.
    """
    _lock_presentation_rollups(session=session, presentation_id=presentation_id)
    stale = session.execute(
        select(ViewingSession.id, ViewingSession.events_version).where(
            ViewingSession.presentation_id == presentation_id,
            ViewingSession.events_version != ViewingSession.rollup_version,
        )
    ).all()
    if not stale:
        session.commit()
        return 0
    stale_ids = [row.id for row in stale]
    for chunk_start in range(0, len(stale_ids), 5000):
        _rebuild_rollups(session=session, session_ids=stale_ids[chunk_start : chunk_start + 5000])
    # Mark each with the version read before the rebuild: a batch committed meanwhile leaves it stale.
    session.execute(
        update(ViewingSession),
        [{"id": row.id, "rollup_version": row.events_version} for row in stale],
        execution_options={"synchronize_session": False},
    )
    session.commit()
    return len(stale)


def _rebuild_rollups(*, session: Session, session_ids: Sequence[uuid.UUID]) -> None:
    session.execute(delete(SessionSlideStats).where(SessionSlideStats.session_id.in_(session_ids)))
    boundaries = (
        select(
            Event.session_id,
            Event.type,
            Event.slide_index,
            Event.received_at,
            func.lead(Event.received_at)
            .over(partition_by=Event.session_id, order_by=(Event.client_ts, _SAME_INSTANT_ORDER, Event.id))
            .label("next_received_at"),
        )
        .where(Event.session_id.in_(session_ids), Event.type.in_(VISIT_BOUNDARIES))
        .subquery()
    )
    visit_end = func.coalesce(boundaries.c.next_received_at, ViewingSession.last_event_at)
    raw_dwell = epoch_seconds(visit_end) - epoch_seconds(boundaries.c.received_at)
    dwell = case((raw_dwell < 0, 0.0), else_=raw_dwell)
    visits = (
        select(
            boundaries.c.session_id,
            boundaries.c.slide_index,
            ViewingSession.presentation_id,
            func.count().label("visits"),
            func.sum(dwell).label("dwell_seconds"),
        )
        .join(ViewingSession, ViewingSession.id == boundaries.c.session_id)
        .where(boundaries.c.type == EventType.slide_enter)
        .group_by(boundaries.c.session_id, boundaries.c.slide_index, ViewingSession.presentation_id)
    )
    session.execute(
        insert(SessionSlideStats).from_select(
            ["session_id", "slide_index", "presentation_id", "visits", "dwell_seconds"], visits
        )
    )


# --- feedback ---------------------------------------------------------------------------------------------


def get_feedback(*, session: Session, presentation_id: uuid.UUID, viewer_id: uuid.UUID) -> Feedback | None:
    return session.scalar(
        select(Feedback).where(Feedback.presentation_id == presentation_id, Feedback.viewer_id == viewer_id)
    )


def _apply_feedback(feedback: Feedback, feedback_in: FeedbackIn) -> None:
    feedback.rating = feedback_in.rating
    feedback.interests = ",".join(interest.value for interest in feedback_in.interests)
    feedback.comment = feedback_in.comment or None
    feedback.contact_email = str(feedback_in.contact_email).lower() if feedback_in.contact_email else None
    feedback.contact_phone = feedback_in.contact_phone


def create_feedback(
    *,
    session: Session,
    presentation_id: uuid.UUID,
    viewer_id: uuid.UUID,
    feedback_in: FeedbackIn,
    now: datetime,
) -> Feedback:
    """Insert the viewer's feedback; raises IntegrityError when they already gave some (one per deck)."""
    feedback = Feedback(presentation_id=presentation_id, viewer_id=viewer_id, created_at=now, updated_at=now)
    _apply_feedback(feedback, feedback_in)
    session.add(feedback)
    session.commit()
    return feedback


def replace_feedback(
    *, session: Session, feedback: Feedback, feedback_in: FeedbackIn, now: datetime
) -> Feedback:
    _apply_feedback(feedback, feedback_in)
    feedback.updated_at = now
    session.commit()
    return feedback


def list_feedback(
    *, session: Session, presentation_id: uuid.UUID, offset: int, limit: int
) -> tuple[list[Feedback], int]:
    condition = and_(Feedback.presentation_id == presentation_id)
    total = session.scalar(select(func.count()).select_from(Feedback).where(condition)) or 0
    rows = session.scalars(
        select(Feedback)
        .where(condition)
        .order_by(Feedback.created_at, Feedback.id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows), total
