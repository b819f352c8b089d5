"""The caller's own account, and user administration (admins only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy.exc import IntegrityError

from app.api.deps import AdminUser, CurrentUser, SessionDep
from app.crud import users as users_crud
from app.models.users import Role, User
from app.schemas.common import Page, error_responses
from app.schemas.users import UserCreate, UserPublic, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])

Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Limit = Annotated[int, Query(ge=1, le=100)]


def _existing_user(session: SessionDep, user_id: uuid.UUID) -> User:
    user = users_crud.get_user(session=session, user_id=user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="user not found")
    return user


def _email_conflict() -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, detail="an account with this email already exists")


@router.get("/me", response_model=UserPublic)
def read_me(user: CurrentUser) -> User:
    return user


@router.get("", response_model=Page[UserPublic])
def list_users(
    session: SessionDep, _admin: AdminUser, offset: Offset = 0, limit: Limit = 50
) -> Page[UserPublic]:
    users, count = users_crud.list_users(session=session, offset=offset, limit=limit)
    return Page[UserPublic](data=[UserPublic.model_validate(user) for user in users], count=count)


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=UserPublic, responses=error_responses(409)
)
def create_user(session: SessionDep, _admin: AdminUser, user_in: UserCreate) -> User:
    if users_crud.get_user_by_email(session=session, email=user_in.email) is not None:
        raise _email_conflict()
    try:
        return users_crud.create_user(session=session, user_in=user_in)
    except IntegrityError:
        session.rollback()
        raise _email_conflict() from None


@router.get("/{user_id}", response_model=UserPublic, responses=error_responses(404))
def read_user(session: SessionDep, _admin: AdminUser, user_id: uuid.UUID) -> User:
    return _existing_user(session, user_id)


@router.patch("/{user_id}", response_model=UserPublic, responses=error_responses(404, 409))
def update_user(session: SessionDep, admin: AdminUser, user_id: uuid.UUID, user_in: UserUpdate) -> User:
    user = _existing_user(session, user_id)
    if user.id == admin.id and (
        (user_in.role is not None and user_in.role != Role.admin) or user_in.is_active is False
    ):
        raise HTTPException(status.HTTP_409_CONFLICT, detail="admins cannot demote or deactivate themselves")
    if user_in.email is not None:
        other = users_crud.get_user_by_email(session=session, email=user_in.email)
        if other is not None and other.id != user.id:
            raise _email_conflict()
    try:
        return users_crud.update_user(session=session, user=user, user_in=user_in)
    except IntegrityError:
        session.rollback()
        raise _email_conflict() from None


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404, 409))
def deactivate_user(session: SessionDep, admin: AdminUser, user_id: uuid.UUID) -> None:
    """Deactivate (never delete: history and feedback stay attributable); revokes its refresh tokens."""
    user = _existing_user(session, user_id)
    if user.id == admin.id:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="admins cannot deactivate themselves")
    users_crud.deactivate_user(session=session, user=user)
