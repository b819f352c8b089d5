"""Schemas for viewing sessions, event batches and feedback."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import phonenumbers
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.models.viewing import COMMENT_MAX_LENGTH, RATING_MAX, RATING_MIN, EndReason, EventType, Interest
from app.schemas.common import Email, InputModel, OpaqueToken, OutputModel
from app.schemas.presentations import MAX_SLIDES

MAX_EVENTS_PER_BATCH = 500


class SessionCreate(InputModel):
    presentation_id: uuid.UUID


class SessionPublic(OutputModel):
    id: uuid.UUID
    presentation_id: uuid.UUID
    viewer_id: uuid.UUID
    slide_count: int
    started_at: datetime
    last_event_at: datetime
    ended_at: datetime | None
    end_reason: EndReason | None
    furthest_slide: int | None
    reached_last_slide: bool
    event_count: int


class SessionOpened(SessionPublic):
    """A new session and the token its page uses to post events (also from sendBeacon, in the body)."""

    ingest_token: str
    ingest_token_expires_at: datetime
    idle_timeout_seconds: int


class EventInputModel(BaseModel):
    """InputModel's strictness (unknown fields are 422) without its recursive NUL scan: event fields are
    UUIDs, enums, integers and timestamps, whose parsers already refuse NUL, and the scan was the largest
    single cost of validating a 500-event batch on the ingest hot path."""

    model_config = ConfigDict(extra="forbid")


class EventIn(EventInputModel):
    event_id: uuid.UUID = Field(
        description="client-generated UUID; a retried event with the same id is ignored"
    )
    type: EventType
    slide_index: int = Field(ge=0, lt=MAX_SLIDES, description="0-based index of the slide shown")
    client_ts: AwareDatetime = Field(description="client clock; orders events, never used for durations")


class EventBatch(EventInputModel):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class BeaconBatch(EventBatch):
    """What navigator.sendBeacon posts: it cannot set headers, so the ingest token travels in the body."""

    token: OpaqueToken


class IngestResult(OutputModel):
    accepted: int = Field(description="events stored by this request")
    duplicates: int = Field(description="events whose event_id was already stored (retries), ignored")
    session_ended: bool
    ended_at: datetime | None


Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=COMMENT_MAX_LENGTH)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32)]


class FeedbackIn(InputModel):
    """Feedback as given by its viewer; PUT replaces the whole of it."""

    rating: int = Field(ge=RATING_MIN, le=RATING_MAX)
    interests: list[Interest] = Field(default_factory=list, max_length=len(Interest))
    comment: Comment | None = None
    contact_email: Email | None = None
    contact_phone: Phone | None = Field(
        default=None, description="international format, e.g. +44 20 7946 0958"
    )

    @field_validator("interests")
    @classmethod
    def _unique_interests(cls, interests: list[Interest]) -> list[Interest]:
        if len(set(interests)) != len(interests):
            raise ValueError("interests must not repeat")
        return sorted(interests, key=list(Interest).index)

    @field_validator("contact_phone")
    @classmethod
    def _valid_phone(cls, phone: str | None) -> str | None:
        if phone is None:
            return None
        try:
            number = phonenumbers.parse(phone, None)
        except phonenumbers.NumberParseException:
            raise ValueError(
                "phone number must be in international format, starting with + and the country code"
            ) from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError("phone number is not a valid number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class FeedbackPublic(OutputModel):
    id: uuid.UUID
    presentation_id: uuid.UUID
    viewer_id: uuid.UUID
    rating: int
    interests: list[Interest]
    comment: str | None
    contact_email: str | None
    contact_phone: str | None
    created_at: datetime
    updated_at: datetime

    @field_validator("interests", mode="before")
    @classmethod
    def _split_interests(cls, value: object) -> object:
        if isinstance(value, str):
            return [item for item in value.split(",") if item]
        return value
