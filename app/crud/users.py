"""Data access for users. Keyword-only, verb-first; each function commits its own unit of work."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.core.security import hash_password, verify_password
from app.db import utcnow
from app.models.users import RefreshToken, Role, User
from app.schemas.users import UserCreate, UserSignup, UserUpdate


def normalize_email(email: str) -> str:
    return email.strip().lower()


def get_user(*, session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def get_user_by_email(*, session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalize_email(email)))


def list_users(*, session: Session, offset: int, limit: int) -> tuple[list[User], int]:
    count = session.scalar(select(func.count()).select_from(User)) or 0
    users = session.scalars(select(User).order_by(User.created_at, User.id).offset(offset).limit(limit))
    return list(users), count


def create_user(*, session: Session, user_in: UserCreate | UserSignup, role: Role | None = None) -> User:
    """Create a user; signups carry no role and become viewers."""
    chosen_role = role or (user_in.role if isinstance(user_in, UserCreate) else Role.viewer)
    user = User(
        email=normalize_email(user_in.email),
        username=user_in.username,
        password_hash=hash_password(user_in.password),
        role=chosen_role,
        is_active=user_in.is_active if isinstance(user_in, UserCreate) else True,
    )
    session.add(user)
    session.commit()
    return user


def update_user(*, session: Session, user: User, user_in: UserUpdate) -> User:
    changes = user_in.model_dump(exclude_unset=True, exclude_none=True)
    if "password" in changes:
        user.password_hash = hash_password(changes.pop("password"))
    if "email" in changes:
        changes["email"] = normalize_email(changes["email"])
    for field, value in changes.items():
        setattr(user, field, value)
    if changes.get("is_active") is False:
        revoke_user_refresh_tokens(session=session, user_id=user.id, commit=False)
    session.commit()
    return user


def deactivate_user(*, session: Session, user: User) -> User:
    user.is_active = False
    revoke_user_refresh_tokens(session=session, user_id=user.id, commit=False)
    session.commit()
    return user


def revoke_user_refresh_tokens(*, session: Session, user_id: uuid.UUID, commit: bool = True) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if commit:
        session.commit()


def authenticate_user(*, session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, or None (same cost whether or not the account exists)."""
    user = get_user_by_email(session=session, email=email)
    if not verify_password(password, user.password_hash if user else None):
        return None
    if user is None or not user.is_active:
        return None
    return user


def count_admins(*, session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User).where(User.role == Role.admin)) or 0
