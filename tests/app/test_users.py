"""User administration by admins."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.app.factories import login_headers, make_user

USERS = "/api/v1/users"


def test_admin_creates_users_with_a_role(client: TestClient, session: Session) -> None:
    admin = make_user(session, role="admin")
    body = {
        "email": "pres@example.com",
        "username": "pres",
        "password": "Presenter-pass-1",
        "role": "presenter",
    }
    response = client.post(USERS, json=body, headers=login_headers(client, admin))
    assert response.status_code == 201, response.text
    assert response.json()["role"] == "presenter"
    assert "password" not in response.text and "argon2" not in response.text
    duplicate = client.post(USERS, json=body, headers=login_headers(client, admin))
    assert duplicate.status_code == 409
    weak = client.post(
        USERS,
        json={**body, "email": "w@example.com", "password": "weak"},
        headers=login_headers(client, admin),
    )
    assert weak.status_code == 422


def test_admin_lists_updates_and_deactivates(client: TestClient, session: Session) -> None:
    admin = make_user(session, role="admin")
    user = make_user(session)
    headers = login_headers(client, admin)
    listing = client.get(USERS, headers=headers).json()
    assert listing["count"] == 2 and {u["id"] for u in listing["data"]} == {str(admin.id), str(user.id)}
    updated = client.patch(
        f"{USERS}/{user.id}", json={"role": "presenter", "username": "promoted"}, headers=headers
    )
    assert updated.status_code == 200
    assert (updated.json()["role"], updated.json()["username"]) == ("presenter", "promoted")
    taken = client.patch(f"{USERS}/{user.id}", json={"email": admin.email}, headers=headers)
    assert taken.status_code == 409
    assert client.delete(f"{USERS}/{user.id}", headers=headers).status_code == 204
    assert client.get(f"{USERS}/{user.id}", headers=headers).json()["is_active"] is False


def test_admin_cannot_lock_themselves_out(client: TestClient, session: Session) -> None:
    admin = make_user(session, role="admin")
    headers = login_headers(client, admin)
    assert client.delete(f"{USERS}/{admin.id}", headers=headers).status_code == 409
    assert client.patch(f"{USERS}/{admin.id}", json={"role": "viewer"}, headers=headers).status_code == 409
    assert client.patch(f"{USERS}/{admin.id}", json={"is_active": False}, headers=headers).status_code == 409
    assert client.get(f"{USERS}/me", headers=headers).json()["role"] == "admin"


def test_role_change_applies_to_existing_tokens(client: TestClient, session: Session) -> None:
    admin, user = make_user(session, role="admin"), make_user(session, role="presenter")
    user_headers = login_headers(client, user)
    deck = {"title": "t", "slides": [{"title": "s"}]}
    assert client.post("/api/v1/presentations", json=deck, headers=user_headers).status_code == 201
    client.patch(f"{USERS}/{user.id}", json={"role": "viewer"}, headers=login_headers(client, admin))
    assert client.post("/api/v1/presentations", json=deck, headers=user_headers).status_code == 403
