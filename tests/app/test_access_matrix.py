"""Every route this part of the service owns, for every role, against its expected status code."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.main import create_app
from tests.app.conftest import Backend
from tests.app.factories import PASSWORD, login_headers, make_presentation, make_user

ROLES = ("anonymous", "viewer", "presenter", "admin", "other_presenter")
OWNED_TAGS = {"auth", "users", "presentations", "health"}
SLIDES = {"slides": [{"title": "One", "content": "x"}]}


@dataclass
class World:
    """One deck owned by `presenter`, given by name to `viewer`; `other_presenter` has no part in it."""

    ids: dict[str, str]


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # template; {deck}, {user}, {target} are filled from the world
    expected: tuple[int, int, int, int, int]  # in ROLES order
    body: Callable[[World], Any] | None = None


def _signup_body(_world: World) -> dict[str, str]:
    return {
        "email": f"new-{uuid.uuid4().hex[:8]}@example.com",
        "username": "new",
        "password": "Signup-pass-123",
    }


def _viewer_ids(world: World) -> dict[str, Any]:
    return {"audience": "named", "viewer_ids": [world.ids["user"]]}


CASES = [
    Case("POST", "/api/v1/auth/signup", (201, 201, 201, 201, 201), _signup_body),
    Case(
        "POST",
        "/api/v1/auth/login",
        (200, 200, 200, 200, 200),
        lambda w: {"email": w.ids["user_email"], "password": PASSWORD},
    ),
    Case(
        "POST", "/api/v1/auth/refresh", (401, 401, 401, 401, 401), lambda w: {"refresh_token": "not-issued"}
    ),
    Case("POST", "/api/v1/auth/logout", (204, 204, 204, 204, 204), lambda w: {"refresh_token": "not-issued"}),
    Case(
        "POST",
        "/api/v1/auth/session",
        (200, 200, 200, 200, 200),
        lambda w: {"email": w.ids["user_email"], "password": PASSWORD},
    ),
    # Without the X-PAP-Session header that only a same-origin script can send: 422 whoever asks.
    Case("POST", "/api/v1/auth/session/refresh", (422, 422, 422, 422, 422)),
    Case("DELETE", "/api/v1/auth/session", (422, 422, 422, 422, 422)),
    Case("GET", "/api/v1/users/me", (401, 200, 200, 200, 200)),
    Case("GET", "/api/v1/users", (401, 403, 403, 200, 403)),
    Case(
        "POST",
        "/api/v1/users",
        (401, 403, 403, 201, 403),
        lambda w: {**_signup_body(w), "role": "presenter"},
    ),
    Case("GET", "/api/v1/users/{user}", (401, 403, 403, 200, 403)),
    Case("PATCH", "/api/v1/users/{user}", (401, 403, 403, 200, 403), lambda w: {"username": "renamed"}),
    Case("DELETE", "/api/v1/users/{target}", (401, 403, 403, 204, 403)),
    Case(
        "POST",
        "/api/v1/presentations",
        (401, 403, 201, 201, 201),
        lambda w: {"title": "New deck", **SLIDES},
    ),
    Case("GET", "/api/v1/presentations", (401, 200, 200, 200, 200)),
    Case("GET", "/api/v1/presentations/{deck}", (401, 200, 200, 200, 404)),
    Case("PATCH", "/api/v1/presentations/{deck}", (401, 403, 200, 200, 403), lambda w: {"title": "Renamed"}),
    Case("PUT", "/api/v1/presentations/{deck}/slides", (401, 403, 200, 200, 403), lambda w: SLIDES),
    Case("GET", "/api/v1/presentations/{deck}/audience", (401, 403, 200, 200, 403)),
    Case("PUT", "/api/v1/presentations/{deck}/audience", (401, 403, 200, 200, 403), _viewer_ids),
    Case("DELETE", "/api/v1/presentations/{deck}", (401, 403, 204, 204, 403)),
    Case("GET", "/health", (200, 200, 200, 200, 200)),
    Case("GET", "/health/live", (200, 200, 200, 200, 200)),
]


def _world(session: Session) -> tuple[World, dict[str, Any]]:
    users = {
        "viewer": make_user(session, role="viewer"),
        "presenter": make_user(session, role="presenter"),
        "admin": make_user(session, role="admin"),
        "other_presenter": make_user(session, role="presenter"),
    }
    target = make_user(session, role="viewer")
    deck = make_presentation(session, users["presenter"], slides=2, viewers=[users["viewer"]])
    ids = {
        "deck": str(deck.id),
        "user": str(users["viewer"].id),
        "user_email": users["viewer"].email,
        "target": str(target.id),
    }
    return World(ids), users


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.method} {case.path}")
def test_route_status_for_every_role(client: TestClient, session: Session, case: Case) -> None:
    outcomes = {}
    for role, expected in zip(ROLES, case.expected, strict=True):
        session.expire_all()
        world, users = _world(session)
        headers = login_headers(client, users[role]) if role != "anonymous" else {}
        path = case.path.format(**world.ids)
        body = case.body(world) if case.body else None
        response = client.request(case.method, path, headers=headers, json=body)
        outcomes[role] = (response.status_code, expected)
    wrong = {role: got for role, (got, expected) in outcomes.items() if got != expected}
    assert not wrong, (
        f"{case.method} {case.path}: got {wrong}, expected {dict(zip(ROLES, case.expected, strict=True))}"
    )


def test_the_table_covers_every_owned_route(backend: Backend) -> None:
    """A new route in auth/users/presentations/health must get a row above."""
    schema = create_app(backend.settings()).openapi()
    owned = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if OWNED_TAGS & set(operation.get("tags", []))
    }
    table = {
        (
            case.method,
            case.path.replace("{deck}", "{presentation_id}")
            .replace("{user}", "{user_id}")
            .replace("{target}", "{user_id}"),
        )
        for case in CASES
    }
    assert owned == table
