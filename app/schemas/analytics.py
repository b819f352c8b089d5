"""Analytics responses. Times are seconds from server receive times; dwell is per session and slide."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import Field

from app.schemas.common import OutputModel


class SlideAnalytics(OutputModel):
    slide_index: int
    title: str | None = Field(description="null when the deck no longer has this slide")
    views: int = Field(description="visits: slide_enter events of all sessions")
    sessions: int = Field(description="sessions that visited the slide at least once")
    dwell_mean_seconds: float | None = Field(
        description="over sessions: each session's total time on the slide"
    )
    dwell_median_seconds: float | None
    dwell_p90_seconds: float | None
    drop_offs: int = Field(description="sessions whose furthest slide was this one")


class DayCount(OutputModel):
    day: date
    sessions: int


class FeedbackSummary(OutputModel):
    count: int
    mean_rating: float | None
    distribution: dict[str, int] = Field(description='ratings "1".."5" to how many gave them')


class PresentationAnalytics(OutputModel):
    presentation_id: uuid.UUID
    title: str
    slide_count: int
    unique_viewers: int
    sessions: int
    active_sessions: int
    total_session_seconds: float
    mean_session_seconds: float | None
    median_session_seconds: float | None
    completed_sessions: int = Field(description="sessions that reached the deck's last slide")
    completion_rate: float | None
    sessions_without_slides: int = Field(description="sessions that never reported a slide")
    slides: list[SlideAnalytics]
    feedback: FeedbackSummary
    sessions_per_day: list[DayCount]


class ViewerAnalytics(OutputModel):
    viewer_id: uuid.UUID
    email: str
    username: str
    sessions: int
    total_seconds: float
    furthest_slide: int | None
    feedback_given: bool
    rating: int | None


class SessionRow(OutputModel):
    session_id: uuid.UUID
    viewer_id: uuid.UUID
    viewer_email: str
    started_at: datetime
    last_event_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    duration_seconds: float
    furthest_slide: int | None
    reached_last_slide: bool
    event_count: int


class Overview(OutputModel):
    users_by_role: dict[str, int]
    presentations: int
    active_presentations: int
    sessions: int
    active_sessions: int
    events: int
    feedback: int
    mean_rating: float | None
