"""Debian's Chromium under Playwright, and what every browser test watches for.

`Watch` collects, for every page of a browser context: Content-Security-Policy violations (a
`securitypolicyviolation` listener installed before any page script runs), console errors, uncaught page
errors, and same-origin requests that failed (a network error, or an HTTP status of 400 or more that the
test did not announce with `expect_status`). `assert_clean()` fails with all of them listed.

`assert_accessible(page)` runs axe-core (the copy in app/web/node_modules) in the page and fails on any
serious or critical finding. It is evaluated through the DevTools protocol, which the page's CSP does not
govern, so the strict policy stays as it is.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("PAP_TEST_CHROMIUM", "/usr/bin/chromium"))  # Debian's package
AXE = ROOT / "app" / "web" / "node_modules" / "axe-core" / "axe.min.js"
# As measured on these machines (ENVIRONMENT.md): without the background-networking flags Chromium keeps
# trying to reach Google's hosts, which this closed network refuses.
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_FAILING_IMPACTS = ("serious", "critical")

CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__papCspViolation({
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile + ":" + event.lineNumber,
    sample: event.sample,
    page: location.href,
  });
}, true);
"""


def chromium_unavailable() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found: Debian's chromium package (tools/ensure-packages.sh installs it)"
    if shutil.which("node") is None:
        return "node is needed for axe-core and the frontend"
    return None


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, with nothing of its own reaching out to the network."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, chromium_sandbox=False, args=LAUNCH_ARGS
    )


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Watch:
    """Everything that went wrong in one browser context's pages (see the module docstring)."""

    origin: str
    violations: list[dict[str, Any]] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    aborted_requests: list[str] = field(default_factory=list)
    _expected: list[tuple[int, re.Pattern[str]]] = field(default_factory=list)
    _excused_urls: set[str] = field(default_factory=set)

    def attach(self, context: BrowserContext) -> None:
        context.expose_function("__papCspViolation", self._on_violation)
        context.add_init_script(CSP_LISTENER)
        context.on("page", self._watch_page)
        for page in context.pages:
            self._watch_page(page)

    def _on_violation(self, report: dict[str, Any]) -> None:
        self.violations.append(report)

    def expect_status(self, status: int, path_pattern: str) -> None:
        """A response the test provokes (a wrong password's 401): it and its console line are no failure."""
        self._expected.append((status, re.compile(path_pattern)))

    def _watch_page(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)

    def _same_origin(self, url: str) -> bool:
        return origin_of(url) == self.origin

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        # Chromium logs every 4xx/5xx as "Failed to load resource"; an announced one is not an error.
        if where in self._excused_urls and message.text.startswith("Failed to load resource"):
            return
        self.console_errors.append(f"{message.text} ({where}:{message.location.get('lineNumber')})")

    def _on_request_failed(self, request: Request) -> None:
        if not self._same_origin(request.url):
            return
        failure = request.failure or "?"
        line = f"{request.method} {request.url}: {failure}"
        # The page or a navigation cancelled it (the router's prefetches, a fetch of a page being left):
        # not the server failing. Kept apart, for the report.
        if "net::ERR_ABORTED" in failure:
            self.aborted_requests.append(line)
        else:
            self.failed_requests.append(line)

    def _on_response(self, response: Response) -> None:
        if response.status < 400 or not self._same_origin(response.url):
            return
        path = urlsplit(response.url).path
        if any(status == response.status and pattern.search(path) for status, pattern in self._expected):
            self._excused_urls.add(response.url)
            return
        self.failed_requests.append(f"{response.request.method} {response.url}: HTTP {response.status}")

    def problems(self) -> list[str]:
        return [
            *(f"CSP violation: {json.dumps(item, sort_keys=True)}" for item in self.violations),
            *(f"console error: {line}" for line in self.console_errors),
            *(f"page error: {line}" for line in self.page_errors),
            *(f"failed request: {line}" for line in self.failed_requests),
        ]

    def assert_clean(self) -> None:
        problems = self.problems()
        assert not problems, "the browser saw problems:\n" + "\n".join(problems)


OpenContext = Callable[..., tuple[BrowserContext, "Watch"]]
"""The `open_context` fixture: watched_context on the platform, checked when the test ends."""


def watched_context(
    browser: Browser, base_url: str, *, ignore_https_errors: bool = False, **options: Any
) -> tuple[BrowserContext, Watch]:
    """A new context (its own cookies: one user) on `base_url`, watched from its first document on."""
    context = browser.new_context(base_url=base_url, ignore_https_errors=ignore_https_errors, **options)
    context.set_default_timeout(15_000)
    watch = Watch(origin=origin_of(base_url))
    watch.attach(context)
    return context, watch


@cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def axe_unavailable() -> str | None:
    return None if AXE.exists() else f"{AXE} missing: npm ci in app/web installs axe-core"


def accessibility_findings(page: Page, impacts: tuple[str, ...] = AXE_FAILING_IMPACTS) -> list[str]:
    """axe-core's WCAG 2.x A/AA findings of the given impacts, one line each (rule, impact, nodes)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source() + "\n;void 0")
    result = page.evaluate(
        """async () => {
          const result = await window.axe.run(document, {
            runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
            resultTypes: ["violations"],
          });
          return result.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
          }));
        }"""
    )
    return [
        f"{item['id']} ({item['impact']}): {item['help']} at {', '.join(item['nodes'])}"
        for item in result
        if item["impact"] in impacts
    ]


def assert_accessible(page: Page, what: str) -> None:
    findings = accessibility_findings(page)
    assert not findings, f"axe-core on {what} ({page.url}):\n" + "\n".join(findings)


def swipe(page: Page, selector: str, *, leftwards: bool, touch: bool) -> None:
    """A horizontal swipe across most of the element, at a finger's pace (about 200 ms): real touch points
    on a touch device, else the mouse."""
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not visible"
    y = box["y"] + box["height"] / 2
    start, end = box["x"] + box["width"] * 0.8, box["x"] + box["width"] * 0.2
    if not leftwards:
        start, end = end, start
    steps = 10
    points = [start + (end - start) * step / steps for step in range(steps + 1)]
    if not touch:
        page.mouse.move(points[0], y)
        page.mouse.down()
        for x in points[1:]:
            page.mouse.move(x, y)
        page.mouse.up()
        return
    with touch_input(page) as dispatch:
        dispatch("touchStart", [{"x": points[0], "y": y}])
        for x in points[1:]:
            time.sleep(0.02)
            dispatch("touchMove", [{"x": x, "y": y}])
        dispatch("touchEnd", [])


def tap(page: Page, x: float, y: float) -> None:
    """A finger's tap (down, about 60 ms, up) where Chromium's gesture detector sees one."""
    with touch_input(page) as dispatch:
        dispatch("touchStart", [{"x": x, "y": y}])
        time.sleep(0.06)
        dispatch("touchEnd", [])


@contextmanager
def touch_input(page: Page) -> Iterator[Callable[[str, list[dict[str, float]]], None]]:
    """Touch events through the DevTools protocol, as the touch screen's driver would send them."""
    session = page.context.new_cdp_session(page)

    def dispatch(kind: str, touches: list[dict[str, float]]) -> None:
        session.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": touches})

    try:
        yield dispatch
    finally:
        session.detach()
