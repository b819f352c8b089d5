"""Password hashing and rules, signed JWTs (access tokens and scoped tokens), refresh token material."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

JWT_ALGORITHM = "HS256"
ACCESS_TOKEN_TTL = timedelta(minutes=15)
REFRESH_TOKEN_TTL = timedelta(days=14)
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a JWT `type` claim value, not a secret
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128

_password_hash = PasswordHash((Argon2Hasher(),))
# Verified against when the account does not exist, so a login costs the same either way (no user probing).
_DUMMY_HASH = _password_hash.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _password_hash.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant-work check: an unknown account still pays for one hash verification."""
    if password_hash is None:
        _password_hash.verify(password, _DUMMY_HASH)
        return False
    return _password_hash.verify(password, password_hash)


class WeakPasswordError(ValueError):
    """The password breaks a rule; the message says which."""


def _character_classes(password: str) -> int:
    return sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )


def check_password_rules(password: str, *, email: str | None = None) -> None:
    """Raise WeakPasswordError naming the first rule the password breaks."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise WeakPasswordError(f"password must be at least {PASSWORD_MIN_LENGTH} characters long")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise WeakPasswordError(f"password must be at most {PASSWORD_MAX_LENGTH} characters long")
    if _character_classes(password) < 2:
        raise WeakPasswordError(
            "password must mix at least two kinds of characters (lower case, upper case, digits, symbols)"
        )
    if email:
        lowered = password.casefold()
        local_part = email.split("@", 1)[0].casefold()
        if lowered == email.casefold() or lowered == local_part:
            raise WeakPasswordError("password must not be the email address")


class InvalidTokenError(Exception):
    """A token that is malformed, expired, wrongly signed or of another type."""


def create_scoped_token(
    *,
    secret_key: str,
    subject: str,
    token_type: str,
    ttl: timedelta,
    claims: dict[str, Any] | None = None,
) -> str:
    """A signed JWT whose `type` claim scopes what it may be used for (access, ingest, ...)."""
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        **(claims or {}),
        "sub": subject,
        "type": token_type,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, secret_key, algorithm=JWT_ALGORITHM)


def decode_scoped_token(token: str, *, secret_key: str, token_type: str) -> dict[str, Any]:
    """The claims of a valid, unexpired token of exactly this type; InvalidTokenError otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret_key,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "iat", "sub", "type"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise InvalidTokenError("token expired") from error
    except jwt.PyJWTError as error:
        raise InvalidTokenError("token invalid") from error
    if claims.get("type") != token_type:
        raise InvalidTokenError(f"token is not of type {token_type!r}")
    return claims


def create_access_token(*, secret_key: str, user_id: uuid.UUID, role: str) -> str:
    return create_scoped_token(
        secret_key=secret_key,
        subject=str(user_id),
        token_type=ACCESS_TOKEN_TYPE,
        ttl=ACCESS_TOKEN_TTL,
        claims={"role": role},
    )


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token and the hash stored for it (the token itself is never stored)."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    # A fast hash is enough: the token has 256 bits of entropy, so it cannot be guessed offline.
    return hashlib.sha256(token.encode()).hexdigest()
