"""Presentations, their ordered slides and the viewers a deck is given to."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime, utcnow


class Audience(enum.StrEnum):
    everyone = "everyone"  # every signed-in user
    named = "named"  # only the users in presentation_viewers


class Presentation(Base):
    __tablename__ = "presentations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(200))
    subtitle: Mapped[str | None] = mapped_column(String(300), default=None)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    audience: Mapped[Audience] = mapped_column(
        Enum(Audience, name="presentation_audience", native_enum=False, create_constraint=True, length=16),
        default=Audience.named,
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The version of the uploaded PDF the slides come from (None: slides typed in, no PDF yet).
    deck_version: Mapped[int | None] = mapped_column(Integer, default=None)

    slides: Mapped[list[Slide]] = relationship(
        order_by="Slide.position", cascade="all, delete-orphan", lazy="selectin"
    )


class Slide(Base):
    __tablename__ = "slides"
    __table_args__ = (UniqueConstraint("presentation_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    presentation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("presentations.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # 0-based; the slide index events refer to
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)


class PresentationViewer(Base):
    __tablename__ = "presentation_viewers"

    presentation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("presentations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


class Deck(Base):
    """One uploaded PDF of a presentation; a new upload is a new version, older ones stay (their images are
    what sessions opened on them showed). Kept in PostgreSQL, so backups and restores carry them."""

    __tablename__ = "decks"
    __table_args__ = (UniqueConstraint("presentation_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    presentation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("presentations.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    page_count: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    pdf: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SlideImage(Base):
    """A page of a deck rendered at one width (WebP); `etag` is the digest of `data`."""

    __tablename__ = "slide_images"

    deck_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("decks.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    width: Mapped[int] = mapped_column(Integer, primary_key=True)
    etag: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
