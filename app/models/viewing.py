"""Viewing sessions, their events, per-session slide rollups and viewer feedback.

Every time stored here that feeds a duration is a server receive time; client timestamps only order events.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class EventType(enum.StrEnum):
    slide_enter = "slide_enter"
    slide_leave = "slide_leave"
    heartbeat = "heartbeat"
    session_end = "session_end"


class EndReason(enum.StrEnum):
    session_end = "session_end"  # the client said so (usually a sendBeacon on page unload)
    idle = "idle"  # silent for PAP_SESSION_IDLE seconds: ended at its last event


class Interest(enum.StrEnum):
    product = "product"
    pricing = "pricing"
    demo = "demo"
    partnership = "partnership"
    technical = "technical"
    support = "support"
    other = "other"


class ViewingSession(Base):
    __tablename__ = "viewing_sessions"
    __table_args__ = (
        Index("ix_viewing_sessions_presentation_started", "presentation_id", "started_at"),
        Index("ix_viewing_sessions_viewer_presentation", "viewer_id", "presentation_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    presentation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("presentations.id", ondelete="CASCADE"))
    viewer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The deck's slide count when the session opened: events are validated against the deck as it was shown.
    slide_count: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Latest server receive time of any event; the session's duration is last_event_at - started_at.
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    end_reason: Mapped[EndReason | None] = mapped_column(
        Enum(EndReason, name="session_end_reason", native_enum=False, create_constraint=True, length=16),
        default=None,
    )
    furthest_slide: Mapped[int | None] = mapped_column(Integer, default=None)
    reached_last_slide: Mapped[bool] = mapped_column(Boolean, default=False)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped by every batch that stores new events; slide rollups are current when rollup_version equals it.
    events_version: Mapped[int] = mapped_column(Integer, default=0)
    rollup_version: Mapped[int] = mapped_column(Integer, default=0)


class Event(Base):
    __tablename__ = "events"
    # The unique (session_id, event_id) index makes retries idempotent and also serves "events of a session";
    # no further index, so that ingestion pays for as few index updates as possible.
    __table_args__ = (UniqueConstraint("session_id", "event_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("viewing_sessions.id", ondelete="CASCADE"))
    type: Mapped[EventType] = mapped_column(
        Enum(EventType, name="event_type", native_enum=False, create_constraint=True, length=16)
    )
    slide_index: Mapped[int] = mapped_column(Integer)
    client_ts: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SessionSlideStats(Base):
    """One session on one slide: visits and total dwell, rebuilt from events when the session changed."""

    __tablename__ = "session_slide_stats"
    # Per-slide analytics read only this index (an index-only scan on PostgreSQL, already in dwell order);
    # presentation_id is copied here so that they need no join.
    __table_args__ = (
        Index(
            "ix_session_slide_stats_presentation_slide",
            "presentation_id",
            "slide_index",
            "dwell_seconds",
            postgresql_include=["visits"],
        ),
    )

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("viewing_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    slide_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    presentation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("presentations.id", ondelete="CASCADE"))
    visits: Mapped[int] = mapped_column(Integer)
    dwell_seconds: Mapped[float] = mapped_column(Float)


RATING_MIN = 1
RATING_MAX = 5
COMMENT_MAX_LENGTH = 2000


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("presentation_id", "viewer_id"),
        CheckConstraint(f"rating >= {RATING_MIN} AND rating <= {RATING_MAX}", name="rating_range"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    presentation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("presentations.id", ondelete="CASCADE"))
    viewer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    # Comma-separated members of Interest (a fixed, small set: no join table needed).
    interests: Mapped[str] = mapped_column(String(200), default="")
    comment: Mapped[str | None] = mapped_column(String(COMMENT_MAX_LENGTH), default=None)
    contact_email: Mapped[str | None] = mapped_column(String(254), default=None)
    contact_phone: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
