"""Every route of the viewing side for every role, against its expected status (table-driven).

Roles: anonymous, viewer (deck not given to them), assigned viewer (deck given to them), presenter (the
deck's owner), admin, other presenter. The assigned viewer owns the session and has given feedback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models.users import Role
from tests.app.factories import access_token, make_presentation, make_user
from tests.app.viewing_support import event, install_clock, open_session

ROLES = ("anonymous", "viewer", "assigned", "presenter", "admin", "other_presenter")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # {deck} and {session} are filled in
    body: str | None  # "session", "events", "feedback", "beacon" or None
    expected: dict[str, int]

    def id(self) -> str:
        return f"{self.method} {self.path}"


def expect(*statuses: int) -> dict[str, int]:
    return dict(zip(ROLES, statuses, strict=True))


ROUTES = [
    Route("POST", "/api/v1/sessions", "session", expect(401, 404, 201, 201, 201, 404)),
    Route("GET", "/api/v1/sessions/{session}", None, expect(401, 403, 200, 200, 200, 403)),
    Route("POST", "/api/v1/sessions/{session}/events", "events", expect(401, 403, 200, 403, 403, 403)),
    # The beacon carries the caller's credential in its body: only the session's ingest token passes.
    Route("POST", "/api/v1/sessions/{session}/beacon", "beacon", expect(401, 401, 200, 401, 401, 401)),
    Route("POST", "/api/v1/presentations/{deck}/feedback", "feedback", expect(401, 404, 409, 201, 201, 404)),
    Route("PUT", "/api/v1/presentations/{deck}/feedback", "feedback", expect(401, 404, 200, 404, 404, 404)),
    Route("GET", "/api/v1/presentations/{deck}/feedback", None, expect(401, 404, 200, 404, 404, 404)),
    Route("GET", "/api/v1/analytics/overview", None, expect(401, 403, 403, 403, 200, 403)),
    Route("GET", "/api/v1/analytics/presentations/{deck}", None, expect(401, 403, 403, 200, 200, 403)),
    Route(
        "GET", "/api/v1/analytics/presentations/{deck}/viewers", None, expect(401, 403, 403, 200, 200, 403)
    ),
    Route(
        "GET", "/api/v1/analytics/presentations/{deck}/feedback", None, expect(401, 403, 403, 200, 200, 403)
    ),
    Route(
        "GET",
        "/api/v1/analytics/presentations/{deck}/export/sessions.csv",
        None,
        expect(401, 403, 403, 200, 200, 403),
    ),
    Route(
        "GET",
        "/api/v1/analytics/presentations/{deck}/export/slides.csv",
        None,
        expect(401, 403, 403, 200, 200, 403),
    ),
    Route("GET", "/api/v1/analytics/presentations/{unknown}", None, expect(401, 404, 404, 404, 404, 404)),
]


def _body(kind: str | None, deck_id: str, credential: str | None, ingest_token: str) -> Any:
    if kind == "session":
        return {"presentation_id": deck_id}
    if kind == "events":
        return {"events": [event("heartbeat", 0, 1)]}
    if kind == "feedback":
        return {"rating": 4}
    if kind == "beacon":
        return {"token": credential or "no-token", "events": [event("heartbeat", 0, 1)]}
    return None


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", ROUTES, ids=Route.id)
def test_route_status_for_role(
    app: FastAPI, client: TestClient, session: Session, route: Route, role: str
) -> None:
    install_clock(app)
    owner = make_user(session, Role.presenter)
    assigned = make_user(session, Role.viewer)
    users = {
        "viewer": make_user(session, Role.viewer),
        "assigned": assigned,
        "presenter": owner,
        "admin": make_user(session, Role.admin),
        "other_presenter": make_user(session, Role.presenter),
    }
    deck = make_presentation(session, owner, viewers=[assigned])
    opened = open_session(client, assigned, deck)
    feedback = client.post(
        f"/api/v1/presentations/{deck.id}/feedback",
        json={"rating": 5},
        headers={"Authorization": f"Bearer {access_token(client, assigned)}"},
    )
    assert feedback.status_code == 201

    user = users.get(role)
    credential = access_token(client, user) if user is not None else None
    if route.body == "beacon" and role == "assigned":
        credential = opened["ingest_token"]
    headers = {"Authorization": f"Bearer {credential}"} if credential and route.body != "beacon" else {}
    path = route.path.format(
        deck=deck.id, session=opened["id"], unknown="00000000-0000-4000-8000-000000000001"
    )
    response = client.request(
        route.method,
        path,
        json=_body(route.body, str(deck.id), credential, opened["ingest_token"]),
        headers=headers,
    )
    assert response.status_code == route.expected[role], response.text
