"""The frontend's response headers: a strict Content-Security-Policy with a fresh nonce on every response
(and on every script the page carries), the same security headers as the API, no caching of pages, and
content-hashed assets cached for good. Also: the watch that every browser test relies on does see a
violation when there is one."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.browser import OpenContext
from tests.web.stack import LocalPlatform

PAGES = (
    "/signin",
    "/decks",
    "/decks/new",
    "/admin",
    "/decks/00000000-0000-0000-0000-000000000000",
    "/decks/00000000-0000-0000-0000-000000000000/analytics",
    "/no-such-page",
)
SECURITY_HEADERS = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "x-permitted-cross-domain-policies": "none",
}
NONCE = re.compile(r"'nonce-([A-Za-z0-9+/=_-]+)'")


def _directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for directive in filter(None, (part.strip() for part in policy.split(";"))):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


@pytest.fixture(scope="module")
def responses(platform: LocalPlatform) -> dict[str, list[httpx.Response]]:
    """Each page fetched twice, as a browser without a session would."""
    with httpx.Client(base_url=platform.base_url, timeout=30) as client:
        return {path: [client.get(path), client.get(path)] for path in PAGES}


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_a_strict_policy_with_its_own_nonce(
    responses: dict[str, list[httpx.Response]], path: str
) -> None:
    nonces = []
    for response in responses[path]:
        assert response.status_code == (404 if path == "/no-such-page" else 200), response.status_code
        policy = response.headers["content-security-policy"]
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, policy
        directives = _directives(policy)
        (nonce,) = {match.group(1) for match in NONCE.finditer(policy)}
        assert len(nonce) >= 22, f"a nonce of {len(nonce)} characters is too short to be unguessable"
        assert f"'nonce-{nonce}'" in directives["script-src"], policy
        assert "'strict-dynamic'" in directives["script-src"], policy
        for name, value in (("object-src", "'none'"), ("base-uri", "'none'"), ("frame-ancestors", "'none'")):
            assert directives.get(name) == [value], f"{name}: {directives.get(name)}"
        assert directives["default-src"] == ["'self'"], policy
        # Every script element the page was served with carries this response's nonce.
        scripts = re.findall(r"<script\b[^>]*>", response.text)
        assert scripts, "the page has no scripts?"
        unsigned = [tag for tag in scripts if f'nonce="{nonce}"' not in tag]
        assert not unsigned, f"scripts without the response's nonce: {unsigned[:3]}"
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, f"{name}: {response.headers.get(name)}"
        assert "permissions-policy" in response.headers
        assert "no-store" in response.headers.get("cache-control", ""), response.headers.get("cache-control")
        nonces.append(nonce)
    assert nonces[0] != nonces[1], "two responses had the same nonce"


def test_no_two_responses_share_a_nonce(responses: dict[str, list[httpx.Response]]) -> None:
    nonces = [
        NONCE.search(response.headers["content-security-policy"]).group(1)  # type: ignore[union-attr]
        for pair in responses.values()
        for response in pair
    ]
    assert len(set(nonces)) == len(nonces), nonces


def test_assets_are_content_hashed_and_cached_for_good(
    responses: dict[str, list[httpx.Response]], platform: LocalPlatform
) -> None:
    assets = sorted(set(re.findall(r'src="(/_next/static/[^"]+\.js)"', responses["/signin"][0].text)))
    assert assets, "no /_next/static scripts on /signin"
    with httpx.Client(base_url=platform.base_url, timeout=30) as client:
        for asset in assets:
            response = client.get(asset)
            assert response.status_code == 200, asset
            assert "immutable" in response.headers.get("cache-control", ""), (asset, response.headers)
            assert response.headers.get("x-content-type-options") == "nosniff", asset


def test_health_needs_nothing_else(platform: LocalPlatform) -> None:
    response = httpx.get(f"{platform.base_url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_watch_sees_what_the_policy_blocks(open_context: OpenContext) -> None:
    """The zero-violation checks of every other test mean something: a foreign image is refused and seen."""
    context, watch = open_context()
    page = context.new_page()
    page.goto("/signin")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.evaluate(
        """() => {
          const image = document.createElement("img");
          image.src = "https://tracker.invalid/pixel.png";
          document.body.append(image);
        }"""
    )
    deadline = time.monotonic() + 5
    while not watch.violations and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert [(item["directive"], item["blocked"]) for item in watch.violations] == [
        ("img-src", "https://tracker.invalid/pixel.png")
    ], watch.violations
    assert watch.problems(), "a violation must count as a problem"
    watch.violations.clear()
    watch.console_errors.clear()
