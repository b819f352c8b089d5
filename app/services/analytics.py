"""Analytics computations over sessions, slide rollups and feedback.

Definitions (all times are server receive times, never client durations):
- session time = last_event_at - started_at (an idle session ends at its last event, so idling adds nothing);
- a visit of a slide starts at its slide_enter and ends at the next slide_enter/slide_leave/session_end in
  client order (see app.crud.viewing.refresh_slide_rollups); a session's dwell on a slide is the sum of its
  visits there; per-slide mean/median/p90 are taken over the sessions that visited the slide;
- median and p90 interpolate linearly between ranks (PostgreSQL's percentile_cont; Python does it on SQLite);
- completion = sessions whose furthest slide is the deck's last slide (at the time the session opened);
- drop-off at slide i = sessions whose furthest slide is i.
Reads first end idle sessions and rebuild the rollups of sessions that got events since the last read, so
they never scan the events of unchanged sessions.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, Subquery, func, literal_column, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from app.core.metrics import SESSIONS_ENDED
from app.crud import viewing as viewing_crud
from app.crud.sqltime import epoch_seconds, utc_day
from app.models.presentations import Presentation
from app.models.users import Role, User
from app.models.viewing import EndReason, Feedback, SessionSlideStats, ViewingSession
from app.schemas.analytics import (
    DayCount,
    FeedbackSummary,
    Overview,
    PresentationAnalytics,
    SessionRow,
    SlideAnalytics,
    ViewerAnalytics,
)

RATINGS = ("1", "2", "3", "4", "5")
# Milliseconds: finer than receive times mean anything, and it hides the float noise of SQLite's julianday.
SECONDS_DECIMALS = 3


def _seconds(value: float | None) -> float | None:
    return round(value, SECONDS_DECIMALS) if value is not None else None


@dataclass(frozen=True)
class Distribution:
    count: int
    total: float
    mean: float | None
    median: float | None
    p90: float | None
    weight: int  # sum of the rows' weights (visits for slides)


def _distribution(
    count: int, total: float, median: float | None, p90: float | None, weight: int
) -> Distribution:
    return Distribution(
        count=count,
        total=round(total, SECONDS_DECIMALS),
        mean=_seconds(total / count),
        median=_seconds(median),
        p90=_seconds(p90),
        weight=weight,
    )


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks: what PostgreSQL's percentile_cont computes."""
    if not sorted_values:
        return None
    position = fraction * (len(sorted_values) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * (position - lower)


def _distributions(session: Session, values: Subquery) -> dict[Any, Distribution]:
    """Count, sum, mean, median, p90 of `values.c.value` and sum of `values.c.weight`, per `values.c.key`.

    One pass in SQL on PostgreSQL (both percentiles from a single sort); on SQLite, which has no
    percentile_cont, the sorted values are fetched and interpolated the same way in Python.
    """
    if session.get_bind().dialect.name == "postgresql":
        fractions = postgresql.array([0.5, 0.9])
        rows = session.execute(
            select(
                values.c.key,
                func.count(),
                func.sum(values.c.value),
                func.percentile_cont(fractions).within_group(values.c.value),
                func.sum(values.c.weight),
            ).group_by(values.c.key)
        )
        return {
            row[0]: _distribution(int(row[1]), float(row[2]), float(row[3][0]), float(row[3][1]), int(row[4]))
            for row in rows
        }
    grouped: dict[Any, list[tuple[float, int]]] = defaultdict(list)
    for key, value, weight in session.execute(
        select(values.c.key, values.c.value, values.c.weight).order_by(values.c.key, values.c.value)
    ):
        grouped[key].append((float(value), int(weight)))
    distributions = {}
    for key, items in grouped.items():
        ordered = [value for value, _ in items]
        distributions[key] = _distribution(
            len(ordered),
            sum(ordered),
            percentile(ordered, 0.5),
            percentile(ordered, 0.9),
            sum(weight for _, weight in items),
        )
    return distributions


def _session_seconds() -> Any:
    return epoch_seconds(ViewingSession.last_event_at) - epoch_seconds(ViewingSession.started_at)


def end_idle_sessions(
    *, session: Session, now: datetime, idle: timedelta, presentation_id: uuid.UUID | None
) -> None:
    ended = viewing_crud.end_idle_sessions(
        session=session, now=now, idle=idle, presentation_id=presentation_id
    )
    session.commit()
    if ended:
        SESSIONS_ENDED.labels(reason=EndReason.idle.value).inc(ended)


def fingerprint(*, session: Session, presentation: Presentation) -> str:
    """Changes whenever anything the analytics of this deck depend on changes; part of the cache key."""
    sessions = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(ViewingSession.events_version), 0),
            func.count(ViewingSession.ended_at),
        ).where(ViewingSession.presentation_id == presentation.id)
    ).one()
    feedback = session.execute(
        select(func.count(), func.max(Feedback.updated_at)).where(Feedback.presentation_id == presentation.id)
    ).one()
    updated = presentation.updated_at.timestamp()
    stamp = feedback[1].timestamp() if feedback[1] is not None else 0
    return f"{sessions[0]}.{sessions[1]}.{sessions[2]}.{feedback[0]}.{stamp}.{updated}"


def _sessions_of(presentation_id: uuid.UUID) -> Any:
    return ViewingSession.presentation_id == presentation_id


def compute_presentation_analytics(*, session: Session, presentation: Presentation) -> PresentationAnalytics:
    viewing_crud.refresh_slide_rollups(session=session, presentation_id=presentation.id)
    of_deck = _sessions_of(presentation.id)

    totals = session.execute(
        select(
            func.count(),
            func.count(func.distinct(ViewingSession.viewer_id)),
            func.count(ViewingSession.id).filter(ViewingSession.reached_last_slide.is_(True)),
            func.count(ViewingSession.id).filter(ViewingSession.ended_at.is_(None)),
            func.count(ViewingSession.id).filter(ViewingSession.furthest_slide.is_(None)),
        ).where(of_deck)
    ).one()
    session_count, unique_viewers, completed, active, without_slides = (int(value) for value in totals)

    durations = select(
        literal_column("0").label("key"),
        _session_seconds().label("value"),
        literal_column("1").label("weight"),
    ).where(of_deck)
    duration = _distributions(session, durations.subquery()).get(0)

    return PresentationAnalytics(
        presentation_id=presentation.id,
        title=presentation.title,
        slide_count=len(presentation.slides),
        unique_viewers=unique_viewers,
        sessions=session_count,
        active_sessions=active,
        total_session_seconds=duration.total if duration else 0.0,
        mean_session_seconds=duration.mean if duration else None,
        median_session_seconds=duration.median if duration else None,
        completed_sessions=completed,
        completion_rate=completed / session_count if session_count else None,
        sessions_without_slides=without_slides,
        slides=_slide_analytics(session=session, presentation=presentation),
        feedback=_feedback_summary(session=session, presentation_id=presentation.id),
        sessions_per_day=[
            DayCount(day=row[0], sessions=int(row[1]))
            for row in session.execute(
                select(utc_day(ViewingSession.started_at).label("day"), func.count())
                .where(of_deck)
                .group_by("day")
                .order_by("day")
            )
        ],
    )


def _slide_analytics(*, session: Session, presentation: Presentation) -> list[SlideAnalytics]:
    of_deck = _sessions_of(presentation.id)
    dwell = _distributions(
        session,
        select(
            SessionSlideStats.slide_index.label("key"),
            SessionSlideStats.dwell_seconds.label("value"),
            SessionSlideStats.visits.label("weight"),
        )
        .where(SessionSlideStats.presentation_id == presentation.id)
        .subquery(),
    )
    drop_offs: dict[int, int] = {
        int(furthest): int(count)
        for furthest, count in session.execute(
            select(ViewingSession.furthest_slide, func.count())
            .where(of_deck, ViewingSession.furthest_slide.is_not(None))
            .group_by(ViewingSession.furthest_slide)
        ).all()
        if furthest is not None
    }
    titles = {slide.position: slide.title for slide in presentation.slides}
    indexes = sorted(set(titles) | set(dwell) | set(drop_offs))
    slides = []
    for index in indexes:
        stats = dwell.get(index)
        slides.append(
            SlideAnalytics(
                slide_index=index,
                title=titles.get(index),
                views=stats.weight if stats else 0,
                sessions=stats.count if stats else 0,
                dwell_mean_seconds=stats.mean if stats else None,
                dwell_median_seconds=stats.median if stats else None,
                dwell_p90_seconds=stats.p90 if stats else None,
                drop_offs=int(drop_offs.get(index, 0)),
            )
        )
    return slides


def _feedback_summary(*, session: Session, presentation_id: uuid.UUID) -> FeedbackSummary:
    counts = dict(
        session.execute(
            select(Feedback.rating, func.count())
            .where(Feedback.presentation_id == presentation_id)
            .group_by(Feedback.rating)
        ).all()
    )
    total = sum(counts.values())
    mean = sum(rating * count for rating, count in counts.items()) / total if total else None
    return FeedbackSummary(
        count=total,
        mean_rating=mean,
        distribution={rating: int(counts.get(int(rating), 0)) for rating in RATINGS},
    )


def compute_viewer_analytics(*, session: Session, presentation: Presentation) -> list[ViewerAnalytics]:
    of_deck = _sessions_of(presentation.id)
    per_viewer = (
        select(
            ViewingSession.viewer_id.label("viewer_id"),
            func.count().label("sessions"),
            func.sum(_session_seconds()).label("total_seconds"),
            func.max(ViewingSession.furthest_slide).label("furthest_slide"),
        )
        .where(of_deck)
        .group_by(ViewingSession.viewer_id)
        .subquery()
    )
    feedback = (
        select(Feedback.viewer_id, Feedback.rating)
        .where(Feedback.presentation_id == presentation.id)
        .subquery()
    )
    viewer_ids = select(per_viewer.c.viewer_id).union(select(feedback.c.viewer_id)).subquery()
    rows = session.execute(
        select(
            User.id,
            User.email,
            User.username,
            per_viewer.c.sessions,
            per_viewer.c.total_seconds,
            per_viewer.c.furthest_slide,
            feedback.c.rating,
        )
        .join(viewer_ids, viewer_ids.c.viewer_id == User.id)
        .outerjoin(per_viewer, per_viewer.c.viewer_id == User.id)
        .outerjoin(feedback, feedback.c.viewer_id == User.id)
        .order_by(User.email)
    )
    return [
        ViewerAnalytics(
            viewer_id=row[0],
            email=row[1],
            username=row[2],
            sessions=int(row[3] or 0),
            total_seconds=round(float(row[4] or 0.0), SECONDS_DECIMALS),
            furthest_slide=row[5],
            feedback_given=row[6] is not None,
            rating=row[6],
        )
        for row in rows
    ]


def list_session_rows(*, session: Session, presentation_id: uuid.UUID) -> list[SessionRow]:
    statement: Select[Any] = (
        select(ViewingSession, User.email, _session_seconds())
        .join(User, User.id == ViewingSession.viewer_id)
        .where(_sessions_of(presentation_id))
        .order_by(ViewingSession.started_at, ViewingSession.id)
    )
    return [
        SessionRow(
            session_id=viewing.id,
            viewer_id=viewing.viewer_id,
            viewer_email=email,
            started_at=viewing.started_at,
            last_event_at=viewing.last_event_at,
            ended_at=viewing.ended_at,
            end_reason=viewing.end_reason.value if viewing.end_reason else None,
            duration_seconds=round(float(seconds), SECONDS_DECIMALS),
            furthest_slide=viewing.furthest_slide,
            reached_last_slide=viewing.reached_last_slide,
            event_count=viewing.event_count,
        )
        for viewing, email, seconds in session.execute(statement).all()
    ]


def compute_overview(*, session: Session) -> Overview:
    roles = dict(session.execute(select(User.role, func.count()).group_by(User.role)).all())
    presentations = session.execute(
        select(func.count(), func.count(Presentation.id).filter(Presentation.is_active.is_(True)))
    ).one()
    sessions = session.execute(
        select(
            func.count(),
            func.count(ViewingSession.id).filter(ViewingSession.ended_at.is_(None)),
            func.coalesce(func.sum(ViewingSession.event_count), 0),
        )
    ).one()
    feedback = session.execute(select(func.count(), func.avg(Feedback.rating))).one()
    return Overview(
        users_by_role={role.value: int(roles.get(role, 0)) for role in Role},
        presentations=int(presentations[0]),
        active_presentations=int(presentations[1]),
        sessions=int(sessions[0]),
        active_sessions=int(sessions[1]),
        events=int(sessions[2]),
        feedback=int(feedback[0]),
        mean_rating=float(feedback[1]) if feedback[1] is not None else None,
    )
