"""The web frontend through the proxy: pages answer HTML with the frontend's own CSP (a fresh nonce per
response, no unsafe-inline), every security header exactly once, Next.js assets cached for good, the unused
image optimizer refused, and the API (and the backends' root routes) still served by the backends."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import Platform
from tests.e2e.headers import header_problems
from tests.e2e.summary import Summary, verify, verify_all

pytestmark = pytest.mark.e2e
NONCE = re.compile(r"'nonce-([A-Za-z0-9+/=_-]+)'")
SCRIPT_NONCE = re.compile(r'<script[^>]* nonce="([^"]+)"')
ASSET = re.compile(r'src="(/_next/static/[^"]+\.js)"')
# Each once: nginx adds them and hides the upstream's copy; the CSP is the frontend's alone on pages.
ONCE = (
    "strict-transport-security",
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "permissions-policy",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
    "x-permitted-cross-domain-policies",
    "cache-control",
)
IMMUTABLE = "public, max-age=31536000, immutable"


def _repeated(response: Any) -> dict[str, int]:
    """Headers of ONCE that the response does not carry exactly once, with their count."""
    counts = {name: len(response.headers.get_list(name)) for name in ONCE}
    return {name: count for name, count in counts.items() if count != 1}


def _frontend_csp_problems(csp: str) -> list[str]:
    problems = [f"has {source}" for source in ("unsafe-inline", "unsafe-eval") if source in csp]
    script_src = next((part for part in csp.split(";") if part.strip().startswith("script-src ")), "")
    if not NONCE.search(script_src) or "'strict-dynamic'" not in script_src:
        problems.append("script-src without a nonce and 'strict-dynamic'")
    for needed in (
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "upgrade-insecure-requests",
    ):
        if needed not in csp:
            problems.append(f"no {needed}")
    return problems


def _other_header_problems(response: Any) -> list[str]:
    """Every security header problem but the CSP's, which is the frontend's (checked on its own)."""
    return [p for p in header_problems(response.headers, api=False) if "content-security-policy" not in p]


def test_pages_carry_the_frontends_nonce_csp_and_every_header_once(
    platform: Platform, summary: Summary
) -> None:
    with platform.edge.client() as client:
        root = client.get("/")
        pages = [client.get(root.headers.get("location", "/decks")) for _ in range(2)]
        signin = client.get("/signin")
    nonces = [NONCE.search(page.headers.get("content-security-policy", "")) for page in pages]
    found = [match.group(1) if match else "" for match in nonces]
    bound = [
        set(SCRIPT_NONCE.findall(page.text)) == {nonce} for page, nonce in zip(pages, found, strict=True)
    ]
    checks: list[tuple[str, bool, object]] = [
        (
            "web: / answers through the proxy (the frontend's redirect to /decks, headers once)",
            root.status_code == 307 and root.headers.get("location") == "/decks" and not _repeated(root),
            f"{root.status_code} -> {root.headers.get('location')}; repeated: {_repeated(root) or 'none'}",
        ),
        (
            "web: pages are 200 HTML from the frontend",
            all(p.status_code == 200 and p.headers["content-type"].startswith("text/html") for p in pages)
            and signin.status_code == 200
            and "<html" in signin.text,
            f"/decks {[p.status_code for p in pages]}, /signin {signin.status_code}, "
            f"{pages[0].headers.get('content-type')}",
        ),
        (
            "web: a fresh CSP nonce per response, on every script of that page",
            all(found) and len(set(found)) == len(found) and all(bound),
            f"nonces {found}; scripts carry their response's nonce: {bound}",
        ),
        (
            "web: the frontend's CSP is strict (nonce, strict-dynamic, no unsafe-*, upgrade-insecure)",
            not any(_frontend_csp_problems(p.headers.get("content-security-policy", "")) for p in pages),
            pages[0].headers.get("content-security-policy", "missing")[:160]
            + f"...; problems: {_frontend_csp_problems(pages[0].headers.get('content-security-policy', ''))}",
        ),
        (
            "web: every security header exactly once on pages (nginx's, the frontend's CSP), no-store",
            not any(_repeated(p) for p in [*pages, signin])
            and not any(_other_header_problems(p) for p in [*pages, signin])
            and all(p.headers.get("cache-control") == "no-store" for p in [*pages, signin]),
            f"repeated: {[_repeated(p) for p in pages]}; "
            f"problems: {_other_header_problems(pages[0]) or 'none'}",
        ),
    ]
    verify_all(summary, checks)


def test_next_static_assets_are_immutable(platform: Platform, summary: Summary) -> None:
    with platform.edge.client() as client:
        page = client.get("/signin")
        assets = ASSET.findall(page.text)
        assert assets, page.text[:500]
        asset = client.get(assets[0])
    problems = header_problems(asset.headers, api=False)  # nginx's own CSP here: the reference's
    verify(
        summary,
        "web: /_next/static/ assets cached for good (public, immutable), every header once",
        asset.status_code == 200
        and asset.headers.get_list("cache-control") == [IMMUTABLE]
        and "javascript" in asset.headers.get("content-type", "")
        and not _repeated(asset)
        and not problems,
        f"{assets[0]}: {asset.status_code}, cache-control {asset.headers.get_list('cache-control')}, "
        f"repeated: {_repeated(asset) or 'none'}, problems: {problems or 'none'}",
    )


def test_the_api_and_the_backends_root_routes_stay_on_the_backends(
    platform: Platform, summary: Summary
) -> None:
    with platform.edge.client() as client:
        me = client.get("/api/v1/users/me")
        missing = client.get("/api/v1/no-such-route")
        health = client.get("/health")
        live = client.get("/health/live")
        schema = client.get("/openapi.json")
    api_problems = header_problems(me.headers, api=True) + header_problems(missing.headers, api=True)
    verify_all(
        summary,
        [
            (
                "web: /api/v1/ still answered by the backends (JSON 401/404, API headers)",
                me.status_code == 401
                and "bearer" in me.headers.get("www-authenticate", "").lower()
                and missing.status_code == 404
                and missing.json().get("detail") is not None
                and not api_problems
                and not _repeated(me),
                f"/users/me {me.status_code} {me.headers.get('www-authenticate')}; /no-such-route "
                f"{missing.status_code} {missing.text[:60]}; problems: {api_problems or 'none'}",
            ),
            (
                "web: /health, /health/live and /openapi.json still the backends'",
                health.status_code == 200
                and "version" in health.json()
                and live.json().get("status") == "alive"
                and schema.status_code == 200
                and "openapi" in schema.json(),
                f"/health {health.status_code} {health.text[:80]}; /health/live {live.text[:60]}; "
                f"/openapi.json {schema.status_code}",
            ),
        ],
    )


def test_the_unused_image_optimizer_is_refused(platform: Platform, summary: Summary) -> None:
    with platform.edge.client() as client:
        response = client.get("/_next/image", params={"url": "/icon.svg", "w": "64", "q": "75"})
    problems = header_problems(response.headers, api=False)
    verify(
        summary,
        "web: /_next/image refused by the proxy (404 with the headers), never reaching the frontend",
        response.status_code == 404 and not problems,
        f"{response.status_code}; problems: {problems or 'none'}",
    )


def test_web_tasks_run_on_the_app_network_only(platform: Platform, summary: Summary) -> None:
    service = platform.stack.api.inspect_service(platform.stack.service("web")["ID"])
    networks = [
        platform.stack.api.inspect_network(n["Target"])["Name"]
        for n in service["Spec"]["TaskTemplate"]["Networks"]
    ]
    tasks = platform.stack.containers("web")
    health = [platform.stack.health(task) for task in tasks]
    verify(
        summary,
        "web: its tasks are healthy, on the app network only, publishing nothing",
        networks == [f"pap-{platform.stack.stack}-app"]
        and not (service["Spec"].get("EndpointSpec") or {}).get("Ports")
        and bool(tasks)
        and set(health) == {"healthy"},
        f"networks {networks}; tasks {health}",
    )
