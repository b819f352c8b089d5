"""Login, token and refresh bodies."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from app.schemas.common import Email, InputModel, OpaqueToken, Password
from app.schemas.users import UserPublic


class LoginRequest(InputModel):
    email: Email
    password: Password


class RefreshRequest(InputModel):
    refresh_token: OpaqueToken


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth 2 token type name
    expires_in: int  # seconds
    refresh_token: str
    refresh_expires_in: int  # seconds


class BrowserSession(BaseModel):
    """A browser sign-in: the access token for the page's memory; the refresh token is only in a cookie."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth 2 token type name
    expires_in: int  # seconds
    user: UserPublic
