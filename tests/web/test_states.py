"""What a page shows before it has anything to show: loading, and empty lists (not a blank screen)."""

from __future__ import annotations

import re

from playwright.sync_api import Route, expect

from tests.web.browser import OpenContext, assert_accessible
from tests.web.journey import sign_in
from tests.web.stack import Account


def test_a_new_presenter_sees_no_decks_yet_and_how_to_make_one(
    open_context: OpenContext, presenter: Account
) -> None:
    context, _ = open_context()
    page = context.new_page()
    sign_in(page, presenter)
    expect(page.get_by_role("heading", name="Decks", level=1)).to_be_visible()
    expect(page.get_by_text("No decks yet")).to_be_visible()
    expect(page.get_by_role("main").get_by_role("link", name="New deck")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has=page.get_by_role("link", name="Analytics"))).to_have_count(
        0
    )
    assert_accessible(page, "the empty deck list")


def test_a_viewer_with_nothing_shared_is_told_so(open_context: OpenContext, viewer: Account) -> None:
    context, _ = open_context()
    page = context.new_page()
    sign_in(page, viewer)
    expect(page.get_by_text("No decks yet")).to_be_visible()
    expect(page.get_by_text("Decks shared with you appear here")).to_be_visible()
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation.get_by_role("link", name="Decks")).to_be_visible()
    expect(navigation.get_by_role("link", name="New deck")).to_have_count(0)
    expect(navigation.get_by_role("link", name="Admin")).to_have_count(0)


def test_the_deck_list_says_it_is_loading_while_the_api_answers(
    open_context: OpenContext, presenter: Account
) -> None:
    context, _ = open_context()
    page = context.new_page()
    sign_in(page, presenter)
    expect(page.get_by_text("No decks yet")).to_be_visible()
    held: list[Route] = []
    page.route(re.compile(r"/api/v1/presentations\?"), lambda route: held.append(route))
    page.reload()
    loading = page.get_by_role("status").filter(has_text="Loading decks")
    expect(loading).to_be_visible()
    expect(page.get_by_text("No decks yet")).to_have_count(0)
    assert len(held) == 1
    held[0].continue_()
    expect(page.get_by_text("No decks yet")).to_be_visible()
    expect(loading).to_have_count(0)
