"""Small factories for test data. Users get one shared password whose argon2 hash is computed once."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from functools import cache

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.security import create_access_token, hash_password
from app.models.presentations import Audience, Presentation, PresentationViewer, Slide
from app.models.users import Role, User

PASSWORD = "Correct-Horse-Battery-9"
_sequence = itertools.count(1)


@cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


def make_user(
    session: Session,
    role: Role | str = Role.viewer,
    email: str | None = None,
    *,
    username: str | None = None,
    is_active: bool = True,
) -> User:
    number = next(_sequence)
    user = User(
        email=(email or f"user{number}-{uuid.uuid4().hex[:6]}@example.com").lower(),
        username=username or f"user{number}",
        password_hash=_password_hash(),
        role=Role(role),
        is_active=is_active,
    )
    session.add(user)
    session.commit()
    return user


def access_token(client: TestClient, user: User) -> str:
    """A valid access token for the user, signed with the app's key (skips the rate-limited login)."""
    settings = client.app.state.resources.settings  # type: ignore[attr-defined]
    return create_access_token(
        secret_key=settings.secret_key.get_secret_value(), user_id=user.id, role=Role(user.role).value
    )


def login_headers(client: TestClient, user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token(client, user)}"}


def make_presentation(
    session: Session,
    owner: User,
    slides: int = 3,
    audience: Audience | str = Audience.named,
    viewers: Sequence[User] = (),
    *,
    title: str | None = None,
    is_active: bool = True,
) -> Presentation:
    presentation = Presentation(
        title=title or f"Deck {next(_sequence)}",
        subtitle="a test deck",
        owner_id=owner.id,
        audience=Audience(audience),
        is_active=is_active,
        slides=[
            Slide(position=index, title=f"Slide {index + 1}", content=f"content {index + 1}")
            for index in range(slides)
        ],
    )
    session.add(presentation)
    session.flush()
    session.add_all(
        PresentationViewer(presentation_id=presentation.id, user_id=viewer.id) for viewer in viewers
    )
    session.commit()
    return presentation
