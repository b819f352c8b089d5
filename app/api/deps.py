"""Request dependencies as `Annotated` aliases, so route signatures stay short.

401 means "who are you?" (no, bad or expired token; always with `WWW-Authenticate`), 403 means "you may not".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, NoReturn

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.ratelimit import RateLimiter
from app.core.redis import Cache
from app.core.security import ACCESS_TOKEN_TYPE, InvalidTokenError, decode_scoped_token
from app.crud import presentations as presentations_crud
from app.crud.users import get_user
from app.models.presentations import Presentation
from app.models.users import Role, User
from app.resources import Resources


async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_app_settings(resources: ResourcesDep) -> Settings:
    return resources.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_db(resources: ResourcesDep) -> Iterator[Session]:
    with resources.session_factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]


async def get_cache(resources: ResourcesDep) -> Cache:
    return resources.cache


CacheDep = Annotated[Cache, Depends(get_cache)]


async def get_rate_limiter(resources: ResourcesDep) -> RateLimiter:
    return resources.rate_limiter


RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]


def client_address(request: Request) -> str:
    """The peer address; behind trusted proxies uvicorn has already put the X-Forwarded-For client here."""
    return request.client.host if request.client else "unknown"


def raise_rate_limited(retry_after: int, what: str) -> NoReturn:
    raise HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=f"too many {what}; retry in {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )


def enforce_api_rate_limit(request: Request, limiter: RateLimiterDep) -> None:
    if limiter.api_rule is None:
        return
    verdict = limiter.hit(limiter.api_rule, client_address(request))
    if not verdict.allowed:
        raise_rate_limited(verdict.retry_after, "requests from this address")


def _unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": challenge})


_bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/v1/auth/login")


def get_current_user(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None:
        raise _unauthorized("not authenticated: send Authorization: Bearer <access token>")
    try:
        claims = decode_scoped_token(
            credentials.credentials,
            secret_key=settings.secret_key.get_secret_value(),
            token_type=ACCESS_TOKEN_TYPE,
        )
        user_id = uuid.UUID(str(claims["sub"]))
    except (InvalidTokenError, ValueError) as error:
        raise _unauthorized(f"access token rejected: {error}", "invalid_token") from None
    user = get_user(session=session, user_id=user_id)
    if user is None or not user.is_active:
        raise _unauthorized("access token rejected: account unknown or disabled", "invalid_token")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_role(*roles: Role) -> Callable[[User], User]:
    allowed = ", ".join(role.value for role in roles)

    def dependency(user: CurrentUser) -> User:
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"this needs the role {allowed}")
        return user

    return dependency


AdminUser = Annotated[User, Depends(require_role(Role.admin))]
PresenterUser = Annotated[User, Depends(require_role(Role.admin, Role.presenter))]

PresentationId = Annotated[uuid.UUID, Path(description="presentation id")]


def get_readable_presentation(
    session: SessionDep, user: CurrentUser, presentation_id: PresentationId
) -> Presentation:
    """The deck if the caller may see it; 404 otherwise (a deck not given to you does not exist for you)."""
    presentation = presentations_crud.get_presentation(session=session, presentation_id=presentation_id)
    if presentation is None or not presentations_crud.can_view(
        session=session, presentation=presentation, user=user
    ):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="presentation not found")
    return presentation


def get_managed_presentation(
    session: SessionDep, user: CurrentUser, presentation_id: PresentationId
) -> Presentation:
    """The deck if the caller owns it (presenter) or is an admin; 404 if unknown, 403 if not theirs."""
    presentation = presentations_crud.get_presentation(session=session, presentation_id=presentation_id)
    if presentation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="presentation not found")
    if not presentations_crud.can_manage(presentation=presentation, user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only the deck's owner or an admin may do this")
    return presentation


ReadablePresentation = Annotated[Presentation, Depends(get_readable_presentation)]
ManagedPresentation = Annotated[Presentation, Depends(get_managed_presentation)]
