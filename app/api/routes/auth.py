"""Signup, login, refresh and logout."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy.exc import IntegrityError

from app.api.deps import RateLimiterDep, SessionDep, SettingsDep, client_address, raise_rate_limited
from app.core.ratelimit import LOGIN_PER_ACCOUNT, LOGIN_PER_ADDRESS
from app.core.security import ACCESS_TOKEN_TTL, REFRESH_TOKEN_TTL, create_access_token
from app.crud import tokens as tokens_crud
from app.crud import users as users_crud
from app.models.users import User
from app.schemas.auth import LoginRequest, RefreshRequest, TokenPair
from app.schemas.common import error_responses
from app.schemas.users import UserPublic, UserSignup

router = APIRouter(prefix="/auth", tags=["auth"])

UNAUTHORIZED = error_responses(401)


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
    issued = tokens_crud.issue_refresh_token(session=session, user=user)
    return _token_pair(settings=settings, user=user, refresh_token=issued.token)


@router.post("/refresh", response_model=TokenPair, responses=UNAUTHORIZED)
def refresh(session: SessionDep, settings: SettingsDep, body: RefreshRequest) -> TokenPair:
    """Spend a refresh token for a new pair. Presenting a spent token revokes every token of its login."""
    try:
        user, issued = tokens_crud.rotate_refresh_token(session=session, token=body.refresh_token)
    except tokens_crud.RefreshTokenRejected as error:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail=str(error), headers={"WWW-Authenticate": "Bearer"}
        ) from None
    return _token_pair(settings=settings, user=user, refresh_token=issued.token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(session: SessionDep, body: RefreshRequest) -> None:
    """Revoke the refresh token and its whole family (idempotent: an unknown token is not an error)."""
    tokens_crud.revoke_refresh_token(session=session, token=body.refresh_token)
