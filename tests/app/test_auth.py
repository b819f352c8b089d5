"""Signup, login, refresh rotation with reuse detection, logout, password rules."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.security import (
    InvalidTokenError,
    WeakPasswordError,
    check_password_rules,
    create_scoped_token,
    decode_scoped_token,
)
from app.models.users import RefreshToken, Role, User
from tests.app.factories import PASSWORD, make_user

SIGNUP = "/api/v1/auth/signup"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/users/me"
GOOD_PASSWORD = "Tr1cky-Pass-Phrase"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, object]:
    response = client.post(LOGIN, json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_signup_creates_a_viewer_and_never_returns_the_hash(client: TestClient, session: Session) -> None:
    response = client.post(
        SIGNUP, json={"email": "New@Example.com", "username": "new", "password": GOOD_PASSWORD}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["role"] == "viewer"
    assert body["email"] == "new@example.com"
    assert not any("password" in key or "hash" in key for key in body)
    stored = session.scalar(select(User).where(User.email == "new@example.com"))
    assert stored is not None and stored.role == Role.viewer
    assert stored.password_hash.startswith("$argon2")


@pytest.mark.parametrize(
    "extra", [{"role": "admin"}, {"role": "viewer"}, {"is_active": True}, {"is_admin": True}]
)
def test_signup_rejects_role_and_unknown_fields(
    client: TestClient, session: Session, extra: dict[str, object]
) -> None:
    body = {"email": "climber@example.com", "username": "climber", "password": GOOD_PASSWORD, **extra}
    response = client.post(SIGNUP, json=body)
    assert response.status_code == 422
    assert next(iter(extra)) in response.text
    assert session.scalar(select(User).where(User.email == "climber@example.com")) is None


def test_signup_twice_is_a_conflict(client: TestClient) -> None:
    body = {"email": "twice@example.com", "username": "twice", "password": GOOD_PASSWORD}
    assert client.post(SIGNUP, json=body).status_code == 201
    second = client.post(SIGNUP, json={**body, "email": "TWICE@example.com"})
    assert second.status_code == 409


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Short1!", "at least 12 characters"),
        ("alllowercaseletters", "two kinds of characters"),
        ("123456789012345", "two kinds of characters"),
        ("weak.person@example.com", "must not be the email"),
        ("x" * 129, "at most 128"),
    ],
)
def test_weak_passwords_are_refused_naming_the_rule(client: TestClient, password: str, rule: str) -> None:
    response = client.post(
        SIGNUP, json={"email": "weak.person@example.com", "username": "w", "password": password}
    )
    assert response.status_code == 422
    assert rule in response.json()["detail"]
    assert password not in response.text  # the rejected input is never echoed


def test_password_rules_unit() -> None:
    check_password_rules("Long-enough-pass1")
    with pytest.raises(WeakPasswordError, match="email"):
        check_password_rules("Someone.Else@Example.com", email="someone.else@example.com")
    with pytest.raises(WeakPasswordError, match="email"):
        check_password_rules("someone.else1", email="someone.else1@example.com")


def test_login_returns_short_lived_access_and_refresh_tokens(client: TestClient, session: Session) -> None:
    user = make_user(session, role="presenter")
    tokens = login(client, user.email)
    assert tokens["token_type"] == "bearer"
    assert 0 < int(tokens["expires_in"]) <= 15 * 60  # type: ignore[call-overload]
    me = client.get(ME, headers=bearer(str(tokens["access_token"])))
    assert me.status_code == 200
    assert me.json()["id"] == str(user.id) and me.json()["role"] == "presenter"


@pytest.mark.parametrize("case", ["wrong password", "unknown account", "disabled account"])
def test_login_failures_are_401(client: TestClient, session: Session, case: str) -> None:
    user = make_user(session, is_active=case != "disabled account")
    email = "nobody@example.com" if case == "unknown account" else user.email
    password = "Wrong-password-123" if case == "wrong password" else PASSWORD
    response = client.post(LOGIN, json={"email": email, "password": password})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [None, "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."],
)
def test_missing_or_bad_token_is_401_with_challenge(client: TestClient, header: str | None) -> None:
    response = client.get(ME, headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_refresh_rotates_and_reuse_revokes_the_family(client: TestClient, session: Session) -> None:
    user = make_user(session)
    first = login(client, user.email)
    second = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert client.get(ME, headers=bearer(rotated["access_token"])).status_code == 200

    # The spent token comes back (stolen): refused, and the legitimate successor dies with it.
    reuse = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert "revoked" in reuse.json()["detail"]
    assert client.post(REFRESH, json={"refresh_token": rotated["refresh_token"]}).status_code == 401
    session.expire_all()
    family = session.scalars(select(RefreshToken).where(RefreshToken.user_id == user.id)).all()
    assert len(family) == 2 and all(token.revoked_at is not None for token in family)


def test_refresh_reuse_does_not_touch_other_logins(client: TestClient, session: Session) -> None:
    user = make_user(session)
    laptop = login(client, user.email)
    phone = login(client, user.email)
    client.post(REFRESH, json={"refresh_token": laptop["refresh_token"]})
    assert client.post(REFRESH, json={"refresh_token": laptop["refresh_token"]}).status_code == 401
    assert client.post(REFRESH, json={"refresh_token": phone["refresh_token"]}).status_code == 200


def test_refresh_tokens_are_stored_hashed(client: TestClient, session: Session) -> None:
    user = make_user(session)
    tokens = login(client, user.email)
    stored = session.scalars(select(RefreshToken.token_hash)).all()
    assert stored and tokens["refresh_token"] not in stored
    assert all(len(value) == 64 for value in stored)


def test_logout_revokes_the_refresh_token(client: TestClient, session: Session) -> None:
    user = make_user(session)
    tokens = login(client, user.email)
    assert client.post(LOGOUT, json={"refresh_token": tokens["refresh_token"]}).status_code == 204
    assert client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    assert client.post(LOGOUT, json={"refresh_token": "unknown"}).status_code == 204


def test_deactivated_user_loses_access_and_refresh(client: TestClient, session: Session) -> None:
    admin = make_user(session, role="admin")
    user = make_user(session)
    tokens = login(client, user.email)
    admin_headers = bearer(str(login(client, admin.email)["access_token"]))
    assert client.delete(f"/api/v1/users/{user.id}", headers=admin_headers).status_code == 204
    assert client.get(ME, headers=bearer(str(tokens["access_token"]))).status_code == 401
    assert client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_access_token_claims(client: TestClient, session: Session) -> None:
    user = make_user(session, role="presenter")
    token = str(login(client, user.email)["access_token"])
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert (claims["sub"], claims["role"], claims["type"]) == (str(user.id), "presenter", "access")
    assert 0 < claims["exp"] - claims["iat"] <= 15 * 60


def test_tokens_of_another_type_or_key_are_not_access_tokens(client: TestClient, session: Session) -> None:
    user = make_user(session)
    key = client.app.state.resources.settings.secret_key.get_secret_value()  # type: ignore[attr-defined]
    ingest = create_scoped_token(
        secret_key=key, subject=str(user.id), token_type="ingest", ttl=timedelta(minutes=5)
    )
    forged = create_scoped_token(
        secret_key="another-key-" + "y" * 32,
        subject=str(user.id),
        token_type="access",
        ttl=timedelta(minutes=5),
    )
    expired = create_scoped_token(
        secret_key=key, subject=str(user.id), token_type="access", ttl=timedelta(seconds=-1)
    )
    for token, reason in ((ingest, "not of type"), (forged, "invalid"), (expired, "expired")):
        response = client.get(ME, headers=bearer(token))
        assert response.status_code == 401
        assert reason in response.json()["detail"]
    with pytest.raises(InvalidTokenError):
        decode_scoped_token(ingest, secret_key=key, token_type="access")
    assert decode_scoped_token(ingest, secret_key=key, token_type="ingest")["sub"] == str(user.id)
