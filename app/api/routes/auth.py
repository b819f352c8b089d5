"""Signup, login, refresh and logout; and the same for browsers, with the refresh token in a cookie.

The web frontend keeps its access token in memory only (injected script cannot read what is not stored)
and its refresh token in an HttpOnly, Secure, SameSite=Strict cookie scoped to `/api/v1/auth/session`, so
it is sent to nothing but these three endpoints. Refresh and sign-out also need the `X-PAP-Session`
header: a cross-site page cannot send a custom header without a CORS preflight, which this API never
grants, so SameSite is not the only defence against a forged request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Header, HTTPException, Request, Response, status
from sqlalchemy.exc import IntegrityError

from app.api.deps import RateLimiterDep, SessionDep, SettingsDep, client_address, raise_rate_limited
from app.core.ratelimit import LOGIN_PER_ACCOUNT, LOGIN_PER_ADDRESS
from app.core.security import ACCESS_TOKEN_TTL, REFRESH_TOKEN_TTL, create_access_token
from app.crud import tokens as tokens_crud
from app.crud import users as users_crud
from app.models.users import User
from app.schemas.auth import BrowserSession, LoginRequest, RefreshRequest, TokenPair
from app.schemas.common import error_responses
from app.schemas.users import UserPublic, UserSignup

router = APIRouter(prefix="/auth", tags=["auth"])

UNAUTHORIZED = error_responses(401)
SESSION_COOKIE = "pap_refresh"
SESSION_PATH = "/api/v1/auth/session"


def _token_pair(*, settings: SettingsDep, user: User, refresh_token: str) -> TokenPair:
    return TokenPair(
        access_token=create_access_token(
            secret_key=settings.secret_key.get_secret_value(), user_id=user.id, role=user.role.value
        ),
        expires_in=int(ACCESS_TOKEN_TTL.total_seconds()),
        refresh_token=refresh_token,
        refresh_expires_in=int(REFRESH_TOKEN_TTL.total_seconds()),
    )


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses=error_responses(409),
)
def signup(session: SessionDep, user_in: UserSignup) -> User:
    """Create a viewer account. The body has no role: any unknown field, `role` included, is a 422."""
    if users_crud.get_user_by_email(session=session, email=user_in.email) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="an account with this email already exists")
    try:
        return users_crud.create_user(session=session, user_in=user_in)
    except IntegrityError:  # a concurrent signup with the same email won the race
        session.rollback()
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="an account with this email already exists"
        ) from None


def _sign_in(
    request: Request, session: SessionDep, limiter: RateLimiterDep, credentials: LoginRequest
) -> tuple[User, str]:
    """Check the rate limits and the password; the user and a new refresh token, or 401/429."""
    for rule, key, what in (
        (LOGIN_PER_ADDRESS, client_address(request), "login attempts from this address"),
        (LOGIN_PER_ACCOUNT, users_crud.normalize_email(credentials.email), "login attempts for this account"),
    ):
        verdict = limiter.hit(rule, key)
        if not verdict.allowed:
            raise_rate_limited(verdict.retry_after, what)
    user = users_crud.authenticate_user(
        session=session, email=credentials.email, password=credentials.password
    )
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="wrong email or password, or the account is disabled",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user, tokens_crud.issue_refresh_token(session=session, user=user).token


def _rotate(session: SessionDep, token: str) -> tuple[User, str]:
    try:
        user, issued = tokens_crud.rotate_refresh_token(session=session, token=token)
    except tokens_crud.RefreshTokenRejected as error:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail=str(error), headers={"WWW-Authenticate": "Bearer"}
        ) from None
    return user, issued.token


@router.post("/login", response_model=TokenPair, responses=error_responses(401, 429))
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    credentials: LoginRequest,
) -> TokenPair:
    """Exchange email and password for a 15-minute access token and a rotating refresh token.

    Limited to 5 attempts a minute per client address and, separately, per account."""
    user, refresh_token = _sign_in(request, session, limiter, credentials)
    return _token_pair(settings=settings, user=user, refresh_token=refresh_token)


@router.post("/refresh", response_model=TokenPair, responses=UNAUTHORIZED)
def refresh(session: SessionDep, settings: SettingsDep, body: RefreshRequest) -> TokenPair:
    """Spend a refresh token for a new pair. Presenting a spent token revokes every token of its login."""
    user, refresh_token = _rotate(session, body.refresh_token)
    return _token_pair(settings=settings, user=user, refresh_token=refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(session: SessionDep, body: RefreshRequest) -> None:
    """Revoke the refresh token and its whole family (idempotent: an unknown token is not an error)."""
    tokens_crud.revoke_refresh_token(session=session, token=body.refresh_token)


SessionHeader = Annotated[
    str,
    Header(
        alias="X-PAP-Session",
        description="any value; its presence proves a same-origin script sent the request",
    ),
]
RefreshCookie = Annotated[str | None, Cookie(alias=SESSION_COOKIE, include_in_schema=False)]


def _browser_session(
    response: Response, settings: SettingsDep, user: User, refresh_token: str
) -> BrowserSession:
    response.set_cookie(
        SESSION_COOKIE,
        refresh_token,
        max_age=int(REFRESH_TOKEN_TTL.total_seconds()),
        path=SESSION_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return BrowserSession(
        access_token=create_access_token(
            secret_key=settings.secret_key.get_secret_value(), user_id=user.id, role=user.role.value
        ),
        expires_in=int(ACCESS_TOKEN_TTL.total_seconds()),
        user=UserPublic.model_validate(user),
    )


@router.post("/session", response_model=BrowserSession, responses=error_responses(401, 429))
def open_browser_session(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    credentials: LoginRequest,
) -> BrowserSession:
    """Sign a browser in: the access token in the body, the refresh token in the `pap_refresh` cookie.

    The same password check and rate limits as `/auth/login`."""
    user, refresh_token = _sign_in(request, session, limiter, credentials)
    return _browser_session(response, settings, user, refresh_token)


@router.post(
    "/session/refresh",
    response_model=BrowserSession,
    responses={**UNAUTHORIZED, 204: {"description": "no session cookie: the browser is not signed in"}},
)
def refresh_browser_session(
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    _header: SessionHeader,
    cookie: RefreshCookie = None,
) -> BrowserSession | Response:
    """A new access token for the page (after a reload, or before the old one expires); rotates the cookie.

    Without a cookie the answer is 204: every page asks this when it loads, and not being signed in is
    not an error. A cookie that cannot be used (spent, revoked, expired) is a 401."""
    if not cookie:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    user, refresh_token = _rotate(session, cookie)
    return _browser_session(response, settings, user, refresh_token)


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT)
def close_browser_session(
    response: Response, session: SessionDep, _header: SessionHeader, cookie: RefreshCookie = None
) -> None:
    """Sign the browser out: revoke the cookie's login and clear the cookie (idempotent)."""
    if cookie:
        tokens_crud.revoke_refresh_token(session=session, token=cookie)
    response.delete_cookie(SESSION_COOKIE, path=SESSION_PATH, secure=True, httponly=True, samesite="strict")
