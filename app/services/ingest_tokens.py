"""Ingest tokens: short-lived JWTs that let one viewer post events to one session, and nothing else.

They travel in `Authorization: Bearer` or, for navigator.sendBeacon (which cannot set headers), in the body.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from app.core.security import create_scoped_token, decode_scoped_token

INGEST_TOKEN_TYPE = "ingest"  # noqa: S105 - a token kind, not a secret
INGEST_TOKEN_TTL = timedelta(hours=2)


def create_ingest_token(*, secret_key: str, user_id: uuid.UUID, session_id: uuid.UUID) -> str:
    return create_scoped_token(
        secret_key=secret_key,
        subject=str(user_id),
        token_type=INGEST_TOKEN_TYPE,
        ttl=INGEST_TOKEN_TTL,
        claims={"sid": str(session_id)},
    )


def read_ingest_token(token: str, *, secret_key: str) -> tuple[uuid.UUID, uuid.UUID]:
    """(user id, session id) of a valid ingest token; InvalidTokenError or ValueError otherwise."""
    claims = decode_scoped_token(token, secret_key=secret_key, token_type=INGEST_TOKEN_TYPE)
    return uuid.UUID(str(claims["sub"])), uuid.UUID(str(claims["sid"]))
