"""Signing in and staying signed in, in a real browser.

The access token lives in the page's memory only and the refresh token in an HttpOnly cookie that only
/api/v1/auth/session/* receives: a reload, or an access token the API rejects, must cost the user nothing.
"""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.web.browser import OpenContext, assert_accessible
from tests.web.journey import sign_in
from tests.web.stack import Account

SESSION_REFRESH = re.compile(r"/api/v1/auth/session/refresh$")


def _refresh_cookie(context: BrowserContext) -> dict[str, object]:
    cookies = [cookie for cookie in context.cookies() if cookie["name"] == "pap_refresh"]
    assert len(cookies) == 1, f"expected one pap_refresh cookie, got {cookies}"
    return dict(cookies[0])


def _signed_in_as(page: Page, account: Account) -> None:
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation).to_contain_text(account.email)
    expect(navigation.get_by_role("button", name="Sign out")).to_be_visible()


def test_a_wrong_password_says_so_and_signs_nobody_in(open_context: OpenContext, presenter: Account) -> None:
    context, watch = open_context()
    watch.expect_status(401, r"^/api/v1/auth/session$")
    page = context.new_page()
    page.goto("/signin")
    page.get_by_label("Email", exact=True).fill(presenter.email)
    page.get_by_label("Password", exact=True).fill(presenter.password + "-wrong")
    page.get_by_role("button", name="Sign in").click()
    # (Next.js's route announcer is a role=alert too, always empty.)
    expect(page.get_by_role("alert").filter(has_text="wrong email or password")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/signin$"))
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    assert not [cookie for cookie in context.cookies() if cookie["name"] == "pap_refresh"]
    assert_accessible(page, "the sign-in page showing an error")


def test_a_signed_out_visit_goes_to_sign_in_and_comes_back(
    open_context: OpenContext, presenter: Account
) -> None:
    context, _ = open_context()
    page = context.new_page()
    page.goto("/decks/new")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fdecks%2Fnew$"))
    sign_in(page, presenter, path=None)
    expect(page).to_have_url(re.compile(r"/decks/new$"))
    expect(page.get_by_role("heading", name="New deck")).to_be_visible()
    _signed_in_as(page, presenter)


def test_next_never_leaves_the_site(open_context: OpenContext, presenter: Account) -> None:
    context, _ = open_context()
    page = context.new_page()
    sign_in(page, presenter, path="/signin?next=//evil.example/steal")
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/decks$"))


def test_a_reload_keeps_the_session_through_the_refresh_cookie(
    open_context: OpenContext, presenter: Account
) -> None:
    context, _ = open_context()
    page = context.new_page()
    token = sign_in(page, presenter)
    expect(page.get_by_role("heading", name="Decks", level=1)).to_be_visible()
    cookie = _refresh_cookie(context)
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"], cookie["path"]) == (
        True,
        True,
        "Strict",
        "/api/v1/auth/session",
    ), cookie
    # Nothing a script could read holds a token.
    stored = page.evaluate("() => JSON.stringify([document.cookie, {...localStorage}, {...sessionStorage}])")
    assert token not in stored and str(cookie["value"]) not in stored, stored

    # A reload forgets the in-memory access token: the page must get a new one from the cookie.
    with page.expect_response(SESSION_REFRESH) as refreshed:
        page.reload()
    assert refreshed.value.status == 200, refreshed.value.status
    assert refreshed.value.json()["access_token"] != token
    expect(page).to_have_url(re.compile(r"/decks$"))
    expect(page.get_by_role("heading", name="Decks", level=1)).to_be_visible()
    expect(page.get_by_text("No decks yet")).to_be_visible()
    _signed_in_as(page, presenter)
    assert _refresh_cookie(context)["value"] != cookie["value"], "the refresh cookie was not rotated"


def test_a_rejected_access_token_is_refreshed_and_the_request_retried(
    open_context: OpenContext, presenter: Account
) -> None:
    context, watch = open_context()
    page = context.new_page()
    sign_in(page, presenter)
    expect(page.get_by_text("No decks yet")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New deck").click()
    expect(page.get_by_role("heading", name="New deck")).to_be_visible()

    # The next deck list goes out with a token the API cannot accept (as an expired one would be).
    watch.expect_status(401, r"^/api/v1/presentations$")
    rejected: list[int] = []

    def spoil_token(route: Route) -> None:
        rejected.append(1)
        route.continue_(headers={**route.request.headers, "authorization": "Bearer not-a-valid-token"})

    page.route(re.compile(r"/api/v1/presentations\?"), spoil_token, times=1)
    with page.expect_response(SESSION_REFRESH) as refreshed:
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Decks").click()
    assert refreshed.value.status == 200
    expect(page.get_by_text("No decks yet")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/decks$"))
    assert rejected == [1]
    _signed_in_as(page, presenter)


def test_sign_out_ends_the_session_for_good(open_context: OpenContext, presenter: Account) -> None:
    context, _ = open_context()
    page = context.new_page()
    sign_in(page, presenter)
    expect(page.get_by_role("heading", name="Decks", level=1)).to_be_visible()
    with page.expect_response(
        lambda response: response.url.endswith("/api/v1/auth/session") and response.request.method == "DELETE"
    ) as closed:
        page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out").click()
    assert closed.value.status == 204
    expect(page).to_have_url(re.compile(r"/signin(\?next=%2Fdecks)?$"))
    assert not [cookie for cookie in context.cookies() if cookie["name"] == "pap_refresh"]
    page.goto("/decks")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fdecks$"))
