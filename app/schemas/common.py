"""Shared schema building blocks: strict input models, bounded strings, pages and messages."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

T = TypeVar("T")

# Every string that enters the service is bounded; these are the shared bounds.
Email = Annotated[EmailStr, Field(max_length=254)]
Password = Annotated[str, Field(min_length=1, max_length=128)]
Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Subtitle = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
SlideContent = Annotated[str, Field(max_length=20_000)]
OpaqueToken = Annotated[str, Field(min_length=1, max_length=512)]


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_contains_nul(item) for item in value)
    return False


class InputModel(BaseModel):
    """Request bodies: unknown fields are an error (422), never silently ignored; no NUL characters
    (PostgreSQL cannot store them, and no honest text has them)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        if _contains_nul(data):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return data


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(OutputModel, Generic[T]):
    data: list[T]
    count: int


class ErrorResponse(BaseModel):
    detail: str


def error_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error codes, all with the `{"detail": ...}` body."""
    return {code: {"model": ErrorResponse} for code in status_codes}
