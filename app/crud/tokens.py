"""Rotating refresh tokens in families: each refresh spends one token and issues the next in its family;
presenting a spent (or revoked) token again means it leaked, so the whole family is revoked."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.core.security import REFRESH_TOKEN_TTL, hash_refresh_token, new_refresh_token
from app.db import utcnow
from app.models.users import RefreshToken, User


class RefreshTokenRejected(Exception):
    """The refresh token cannot be used; the message is safe to show."""


@dataclass(frozen=True)
class IssuedRefreshToken:
    token: str
    family_id: uuid.UUID


def issue_refresh_token(
    *, session: Session, user: User, family_id: uuid.UUID | None = None
) -> IssuedRefreshToken:
    token, token_hash = new_refresh_token()
    family = family_id or uuid.uuid4()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family,
            token_hash=token_hash,
            expires_at=utcnow() + REFRESH_TOKEN_TTL,
        )
    )
    session.commit()
    return IssuedRefreshToken(token=token, family_id=family)


def revoke_token_family(*, session: Session, family_id: uuid.UUID) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    session.commit()


def rotate_refresh_token(*, session: Session, token: str) -> tuple[User, IssuedRefreshToken]:
    """Spend the token and issue its successor; detects reuse and revokes the family."""
    stored = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token)))
    if stored is None:
        raise RefreshTokenRejected("refresh token invalid")
    if stored.revoked_at is not None or stored.used_at is not None:
        revoke_token_family(session=session, family_id=stored.family_id)
        raise RefreshTokenRejected("refresh token already used; every session of this login is revoked")
    if stored.expires_at <= utcnow():
        raise RefreshTokenRejected("refresh token expired")
    # Spend it atomically: of two concurrent refreshes with one token, only one sees a row updated.
    spent = session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == stored.id, RefreshToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        revoke_token_family(session=session, family_id=stored.family_id)
        raise RefreshTokenRejected("refresh token already used; every session of this login is revoked")
    user = session.get(User, stored.user_id)
    if user is None or not user.is_active:
        session.commit()
        raise RefreshTokenRejected("account disabled")
    return user, issue_refresh_token(session=session, user=user, family_id=stored.family_id)


def revoke_refresh_token(*, session: Session, token: str) -> None:
    """Logout: revoke the family of this token (no error for an unknown token; logout is idempotent)."""
    stored = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token)))
    if stored is not None:
        revoke_token_family(session=session, family_id=stored.family_id)
