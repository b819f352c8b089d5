"""The browser's sign-in: access token in the body, refresh token only in an HttpOnly cookie.

Also the named viewers by email, which the frontend's deck form sends."""

from __future__ import annotations

from collections.abc import Iterator
from http.cookies import SimpleCookie

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models.users import Role
from tests.app.factories import PASSWORD, login_headers, make_presentation, make_user

OPEN = "/api/v1/auth/session"
REFRESH = "/api/v1/auth/session/refresh"
ME = "/api/v1/users/me"
SAME_ORIGIN = {"X-PAP-Session": "1"}


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    """A client on https, as a browser behind the proxy is: the cookie is Secure, so http would drop it."""
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as test_client:
        yield test_client


def _cookie(response_header: str) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(response_header)
    return cookie


def test_sign_in_sets_an_httponly_strict_cookie_and_returns_no_refresh_token(
    browser: TestClient, session: Session
) -> None:
    user = make_user(session, Role.presenter)
    response = browser.post(OPEN, json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "user"}
    assert body["user"]["email"] == user.email and body["user"]["role"] == "presenter"
    morsel = _cookie(response.headers["set-cookie"])["pap_refresh"]
    assert morsel["httponly"] and morsel["secure"]
    assert morsel["samesite"].lower() == "strict"
    assert morsel["path"] == "/api/v1/auth/session"
    assert int(morsel["max-age"]) == 14 * 24 * 3600
    me = browser.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == body["user"]["id"]


def test_wrong_password_is_401_and_sets_no_cookie(browser: TestClient, session: Session) -> None:
    user = make_user(session)
    response = browser.post(OPEN, json={"email": user.email, "password": PASSWORD + "x"})
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong email or password, or the account is disabled"
    assert "set-cookie" not in response.headers


def test_refresh_rotates_the_cookie_and_a_replayed_cookie_revokes_the_login(
    browser: TestClient, session: Session
) -> None:
    user = make_user(session)
    browser.post(OPEN, json={"email": user.email, "password": PASSWORD})
    first = browser.cookies.get("pap_refresh")
    refreshed = browser.post(REFRESH, headers=SAME_ORIGIN)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["user"]["id"] == str(user.id)
    second = browser.cookies.get("pap_refresh")
    assert second and second != first
    # The spent cookie again (a stolen copy): refused, and the rotated one dies with its family.
    browser.cookies.clear()
    replay = browser.post(REFRESH, headers=SAME_ORIGIN, cookies={"pap_refresh": str(first)})
    assert replay.status_code == 401
    browser.cookies.clear()
    assert browser.post(REFRESH, headers=SAME_ORIGIN, cookies={"pap_refresh": str(second)}).status_code == 401


def test_refresh_needs_the_same_origin_header_and_a_cookie(browser: TestClient, session: Session) -> None:
    user = make_user(session)
    browser.post(OPEN, json={"email": user.email, "password": PASSWORD})
    without_header = browser.post(REFRESH)
    assert without_header.status_code == 422
    assert "X-PAP-Session" in without_header.text
    browser.cookies.clear()
    without_cookie = browser.post(REFRESH, headers=SAME_ORIGIN)
    assert without_cookie.status_code == 204  # not signed in: a state every page load asks about
    assert without_cookie.content == b"" and "set-cookie" not in without_cookie.headers


def test_sign_out_revokes_and_clears_the_cookie(browser: TestClient, session: Session) -> None:
    user = make_user(session)
    browser.post(OPEN, json={"email": user.email, "password": PASSWORD})
    cookie = browser.cookies.get("pap_refresh")
    response = browser.delete(OPEN, headers=SAME_ORIGIN)
    assert response.status_code == 204
    cleared = _cookie(response.headers["set-cookie"])["pap_refresh"]
    assert cleared.value == "" and int(cleared["max-age"]) == 0
    browser.cookies.clear()
    assert browser.post(REFRESH, headers=SAME_ORIGIN, cookies={"pap_refresh": str(cookie)}).status_code == 401
    assert browser.delete(OPEN, headers=SAME_ORIGIN).status_code == 204  # idempotent


def test_named_viewers_by_email(client: TestClient, session: Session) -> None:
    presenter = make_user(session, Role.presenter)
    first = make_user(session, email="first@example.com")
    second = make_user(session, email="second@example.com")
    created = client.post(
        "/api/v1/presentations",
        headers=login_headers(client, presenter),
        json={
            "title": "By email",
            "slides": [{"title": "One"}],
            "viewer_ids": [str(first.id)],
            "viewer_emails": [" First@Example.com", "second@example.com"],
        },
    )
    assert created.status_code == 201, created.text
    audience = client.get(
        f"/api/v1/presentations/{created.json()['id']}/audience", headers=login_headers(client, presenter)
    ).json()
    assert sorted(audience["viewer_emails"]) == ["first@example.com", "second@example.com"]
    assert dict(zip(audience["viewer_ids"], audience["viewer_emails"], strict=True)) == {
        str(first.id): "first@example.com",
        str(second.id): "second@example.com",
    }
    assert (
        client.get(
            f"/api/v1/presentations/{created.json()['id']}", headers=login_headers(client, second)
        ).status_code
        == 200
    )


def test_unknown_viewer_email_is_a_precise_422_and_changes_nothing(
    client: TestClient, session: Session
) -> None:
    presenter = make_user(session, Role.presenter)
    viewer = make_user(session)
    inactive = make_user(session, is_active=False)
    deck = make_presentation(session, presenter, viewers=[viewer])
    response = client.put(
        f"/api/v1/presentations/{deck.id}/audience",
        headers=login_headers(client, presenter),
        json={"audience": "named", "viewer_emails": ["nobody@example.com", inactive.email]},
    )
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"viewer_emails: no active user with email nobody@example.com, {inactive.email}"
    )
    audience = client.get(
        f"/api/v1/presentations/{deck.id}/audience", headers=login_headers(client, presenter)
    )
    assert audience.json()["viewer_ids"] == [str(viewer.id)]
