"""The platform's API as a browser and its users drive it, through the proxy (paths from app/api/routes)."""

from __future__ import annotations

import datetime
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from tests.e2e.live import EdgeClient

API = "/api/v1"


class ApiError(AssertionError):
    """A call answered with an unexpected status; the message carries status and body."""


def expect(response: Any, *statuses: int) -> Any:
    if response.status_code not in statuses:
        raise ApiError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:300]}"
        )
    return response


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    access_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def login(client: EdgeClient, email: str, password: str, login_times: list[float]) -> Account:
    login_times.append(time.monotonic())
    response = expect(client.post(f"{API}/auth/login", json={"email": email, "password": password}), 200)
    return Account(email, password, response.json()["access_token"])


def create_user(client: EdgeClient, admin: Account, role: str) -> tuple[str, str, str]:
    """A new user of `role` created by the admin; returns (id, email, password)."""
    suffix = uuid.uuid4().hex[:10]
    email, password = f"e2e-{role}-{suffix}@example.com", f"E2e-{uuid.uuid4().hex}"
    response = client.post(
        f"{API}/users",
        headers=admin.auth,
        json={"email": email, "username": f"e2e {role} {suffix}", "password": password, "role": role},
    )
    return str(expect(response, 201).json()["id"]), email, password


def create_deck(
    client: EdgeClient, presenter: Account, slide_titles: list[str], viewer_ids: list[str]
) -> str:
    body = {
        "title": f"e2e deck {uuid.uuid4().hex[:8]}",
        "slides": [{"title": title, "content": f"content of {title}"} for title in slide_titles],
        "audience": "named",
        "viewer_ids": viewer_ids,
    }
    return str(
        expect(client.post(f"{API}/presentations", headers=presenter.auth, json=body), 201).json()["id"]
    )


@dataclass(frozen=True)
class ViewingSession:
    id: str
    ingest_token: str


def open_session(client: EdgeClient, viewer: Account, deck_id: str) -> ViewingSession:
    response = client.post(f"{API}/sessions", headers=viewer.auth, json={"presentation_id": deck_id})
    body = expect(response, 201).json()
    return ViewingSession(str(body["id"]), body["ingest_token"])


def event(kind: str, slide_index: int, at: datetime.datetime) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "slide_index": slide_index,
        "client_ts": at.isoformat(),
    }


def post_events(client: EdgeClient, session: ViewingSession, events: list[dict[str, Any]]) -> Any:
    """A page's batch: the ingest token as a Bearer header."""
    return client.post(
        f"{API}/sessions/{session.id}/events",
        headers={"Authorization": f"Bearer {session.ingest_token}"},
        json={"events": events},
    )


def post_beacon(client: EdgeClient, session: ViewingSession, events: list[dict[str, Any]]) -> Any:
    """What navigator.sendBeacon sends on unload: text/plain, no Authorization, the token in the body."""
    body = json.dumps({"token": session.ingest_token, "events": events})
    return client.post(
        f"{API}/sessions/{session.id}/beacon",
        content=body.encode(),
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )


def presentation_analytics(client: EdgeClient, presenter: Account, deck_id: str) -> dict[str, Any]:
    response = client.get(f"{API}/analytics/presentations/{deck_id}", headers=presenter.auth)
    return dict(expect(response, 200).json())
