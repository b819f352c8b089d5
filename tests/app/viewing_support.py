"""Helpers for the viewing tests: a controllable server clock, sessions, and event batches."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.models.presentations import Presentation
from app.models.users import User
from app.services.clock import server_now
from tests.app.factories import login_headers

SESSIONS = "/api/v1/sessions"
START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


class Clock:
    """The server clock the app sees; tests move it by hand, so receive times are exact."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def set(self, seconds_after_start: float) -> datetime:
        self.now = START + timedelta(seconds=seconds_after_start)
        return self.now


def install_clock(app: FastAPI, start: datetime = START) -> Clock:
    clock = Clock(start)
    app.dependency_overrides[server_now] = clock
    return clock


def event(
    kind: str, slide: int, client_seconds: float = 0.0, event_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """One event as the page sends it; client_seconds is the (untrusted) client clock after START."""
    return {
        "event_id": str(event_id or uuid.uuid4()),
        "type": kind,
        "slide_index": slide,
        "client_ts": (START + timedelta(seconds=client_seconds)).isoformat(),
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def open_session(client: TestClient, viewer: User, presentation: Presentation) -> dict[str, Any]:
    response = client.post(
        SESSIONS, json={"presentation_id": str(presentation.id)}, headers=login_headers(client, viewer)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def post_events(
    client: TestClient, opened: dict[str, Any], *events: dict[str, Any], status: int = 200
) -> dict[str, Any]:
    response = client.post(
        f"{SESSIONS}/{opened['id']}/events",
        json={"events": list(events)},
        headers=bearer(opened["ingest_token"]),
    )
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body
