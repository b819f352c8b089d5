"""The admin page: a new user made through its form, then given another role; the API agrees."""

from __future__ import annotations

import secrets

from playwright.sync_api import expect

from tests.web.browser import OpenContext, assert_accessible
from tests.web.journey import sign_in
from tests.web.stack import Account, LocalPlatform, new_password


def test_admin_creates_a_user_and_changes_the_role(
    open_context: OpenContext, platform: LocalPlatform
) -> None:
    context, _ = open_context()
    page = context.new_page()
    sign_in(page, platform.admin)
    admin_link = page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin")
    expect(admin_link).to_have_attribute("href", "/admin")
    admin_link.click()
    expect(page.get_by_role("heading", name="Admin", level=1)).to_be_visible()
    expect(page.get_by_role("group", name="Platform")).to_contain_text("Users")
    users = page.get_by_role("table", name="Users")
    expect(users).to_contain_text(platform.admin.email)
    assert_accessible(page, "the admin page")

    email = f"made-in-admin-{secrets.token_hex(4)}@example.com"
    password = new_password()
    form = page.get_by_role("form", name="New user")
    form.get_by_label("Email", exact=True).fill(email)
    form.get_by_label("Username", exact=True).fill(email.split("@")[0])
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_label("Role", exact=True).select_option("presenter")
    form.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("status").filter(has_text=f"Created {email}")).to_be_visible()
    row = users.get_by_role("row").filter(has_text=email)
    role = page.get_by_role("combobox", name=f"Role for {email}")
    expect(row).to_have_count(1)
    expect(role).to_have_value("presenter")

    role.select_option("viewer")
    expect(page.get_by_role("status").filter(has_text=f"{email} is now viewer")).to_be_visible()
    expect(role).to_have_value("viewer")
    listed = platform.api.request("GET", "/users", params={"limit": 100}).json()["data"]
    made = next(user for user in listed if user["email"] == email)
    assert made["role"] == "viewer" and made["is_active"], made

    # The new account works, with what its role allows and nothing more.
    other, _ = open_context()
    their_page = other.new_page()
    sign_in(their_page, Account(email=email, password=password, role="viewer", id=made["id"]))
    navigation = their_page.get_by_role("navigation", name="Main")
    expect(navigation).to_contain_text(email)
    expect(navigation.get_by_role("link", name="New deck")).to_have_count(0)
    expect(navigation.get_by_role("link", name="Admin")).to_have_count(0)
    expect(their_page.get_by_role("heading", name="Decks", level=1)).to_be_visible()
    expect(their_page.get_by_text("No decks yet")).to_be_visible()
    # Closed before the deactivation: a page still loading would get the 401s a deactivated account is owed.
    other.close()

    page.get_by_role("button", name=f"Deactivate {email}").click()
    expect(page.get_by_role("status").filter(has_text=f"Deactivated {email}")).to_be_visible()
    expect(row).to_contain_text("deactivated")


def test_the_admin_page_is_not_for_a_presenter(open_context: OpenContext, presenter: Account) -> None:
    context, _ = open_context()
    page = context.new_page()
    sign_in(page, presenter)
    expect(page.get_by_role("heading", name="Decks", level=1)).to_be_visible()
    page.goto("/admin")
    expect(page.get_by_role("alert").filter(has_text="not for your role")).to_be_visible()
    expect(page.get_by_role("table", name="Users")).to_have_count(0)
