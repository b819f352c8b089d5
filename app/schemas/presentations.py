"""Presentation, slide and audience schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from app.models.presentations import Audience
from app.schemas.common import Email, InputModel, OutputModel, SlideContent, Subtitle, Title

MAX_SLIDES = 500
MAX_NAMED_VIEWERS = 1000


class SlideBase(InputModel):
    title: Title
    content: SlideContent = ""


class SlideCreate(SlideBase):
    pass


class SlidePublic(OutputModel):
    id: uuid.UUID
    position: int
    title: str
    content: str


Slides = Annotated[list[SlideCreate], Field(min_length=1, max_length=MAX_SLIDES)]
ViewerIds = Annotated[list[uuid.UUID], Field(max_length=MAX_NAMED_VIEWERS)]
ViewerEmails = Annotated[
    list[Email],
    Field(max_length=MAX_NAMED_VIEWERS, description="named viewers by email, beside or instead of their ids"),
]


class PresentationBase(InputModel):
    title: Title
    subtitle: Subtitle | None = None


class PresentationCreate(PresentationBase):
    slides: Slides
    audience: Audience = Audience.named
    viewer_ids: ViewerIds = Field(default_factory=list)
    viewer_emails: ViewerEmails = Field(default_factory=list)


class PresentationUpdate(InputModel):
    title: Title | None = None
    subtitle: Subtitle | None = None
    is_active: bool | None = None


class SlidesReplace(InputModel):
    slides: Slides


class AudienceUpdate(InputModel):
    audience: Audience
    viewer_ids: ViewerIds = Field(default_factory=list)
    viewer_emails: ViewerEmails = Field(default_factory=list)


class AudiencePublic(OutputModel):
    audience: Audience
    viewer_ids: list[uuid.UUID]
    viewer_emails: list[str]  # in the order of viewer_ids


class PresentationPublic(OutputModel):
    id: uuid.UUID
    title: str
    subtitle: str | None
    owner_id: uuid.UUID
    audience: Audience
    is_active: bool
    created_at: datetime
    updated_at: datetime
    deck_version: int | None  # the uploaded PDF the slides come from; None when typed in
    slides: list[SlidePublic]


class PresentationSummary(OutputModel):
    """A list entry: the deck without its slide contents."""

    id: uuid.UUID
    title: str
    subtitle: str | None
    owner_id: uuid.UUID
    audience: Audience
    is_active: bool
    slide_count: int
    created_at: datetime
    updated_at: datetime


class DeckSlide(OutputModel):
    position: int
    title: str
    image_url: str  # the widest rendering
    thumbnail_url: str  # the narrowest


class DeckPublic(OutputModel):
    version: int
    page_count: int
    size_bytes: int
    sha256: str
    uploaded_at: datetime
    widths: list[int]
    slides: list[DeckSlide]
