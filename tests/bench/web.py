"""`make bench`, third part: the web viewer. Prints and reports; asserts nothing.

1. The JavaScript the viewer route (`/decks/[id]`) loads, gzipped: the chunks the build's
   app-build-manifest.json lists for the root layout and that page (the framework's main files included;
   the legacy polyfills, served only to browsers without modules, left out). Goal: under 150 kB.
2. Time to first slide in Debian's Chromium, warm (the browser's cache and the servers already used once):
   from the start of the navigation to the first slide's image decoded (the page's `performance.now()` when
   `img.decode()` resolves). Through the TLS proxy when the dev stack runs (`make e2e KEEP=1`), else on the
   local platform of tests/web (the API and the frontend's own server on loopback); it says which.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import secrets
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.app import pdfs
from tests.web.browser import CHROMIUM, chromium_unavailable
from tests.web.stack import WEB_DIR, Account, PlatformApi, build_web, local_platform, unavailable

VIEWER_ROUTE = "/decks/[id]/page"
LAYOUT = "/layout"
BUNDLE_GOAL_KB = 150.0
WARM_RUNS = 5
SLIDES = ("First slide", "Second slide", "Third slide")
# Set before any page script runs: the moment the first slide's image is decoded, in the page's clock.
FIRST_SLIDE_PROBE = """
new MutationObserver((_, observer) => {
  const image = document.querySelector('img[alt^="Slide 1 of"]');
  if (!image) return;
  observer.disconnect();
  const done = () => image.decode().then(() => { window.__papFirstSlide = performance.now(); });
  if (image.complete) done(); else image.addEventListener("load", done, { once: true });
}).observe(document, { subtree: true, childList: true });
"""


@dataclass(frozen=True)
class Bundle:
    files: list[str]
    raw_bytes: int
    gzip_bytes: int

    @property
    def gzip_kb(self) -> float:
        return self.gzip_bytes / 1000


def viewer_bundle(next_dir: Path = WEB_DIR / ".next") -> Bundle:
    """What a first visit to the viewer downloads in JavaScript, from the build's own manifest."""
    manifest = json.loads((next_dir / "app-build-manifest.json").read_text())["pages"]
    if VIEWER_ROUTE not in manifest:
        raise RuntimeError(
            f"{VIEWER_ROUTE} is not in the build's app-build-manifest.json: {sorted(manifest)}"
        )
    files = list(dict.fromkeys([*manifest.get(LAYOUT, []), *manifest[VIEWER_ROUTE]]))
    files = [name for name in files if name.endswith(".js")]
    contents = [(next_dir / name).read_bytes() for name in files]
    return Bundle(
        files=files,
        raw_bytes=sum(len(content) for content in contents),
        # Level 9, as Next.js's own build report measures "First Load JS".
        gzip_bytes=sum(len(gzip.compress(content, compresslevel=9)) for content in contents),
    )


@dataclass(frozen=True)
class Target:
    base_url: str
    api: PlatformApi
    ignore_https_errors: bool
    description: str


@contextlib.contextmanager
def stack_target() -> Iterator[Target | None]:
    """The dev stack's proxy if it runs and serves the frontend; None (and why, printed) when not."""
    from tests.bench import proxy

    try:
        stack = proxy.find_stack()
        verify = proxy._verify()
        health = httpx.get(f"{stack.edge}/healthz", verify=verify, timeout=10)
        if health.status_code != 200:
            raise proxy.StackNotRunningError(f"its proxy answers {health.status_code} on /healthz")
    except (proxy.StackNotRunningError, httpx.HTTPError) as error:
        print(f"bench web: the dev stack is not serving the frontend ({error})", flush=True)
        yield None
        return
    api = PlatformApi(stack.edge, stack.admin_email, stack.admin_password, verify=verify)
    try:
        yield Target(stack.edge, api, True, f"through the dev stack's TLS proxy ({stack.edge})")
    finally:
        api.close()


@contextlib.contextmanager
def local_target() -> Iterator[Target]:
    with local_platform(Path(tempfile.mkdtemp(prefix="pap-bench-web-"))) as platform:
        yield Target(
            platform.base_url,
            platform.api,
            False,
            f"on the local platform (no proxy: the frontend's own server at {platform.base_url})",
        )


def time_to_first_slide(chosen: Target) -> list[float]:
    """Milliseconds per warm run (the first, cold, visit is not counted). A run that shows no slide within
    30 s raises, saying what the page showed and what went wrong in it."""
    from playwright.sync_api import Error, sync_playwright

    from tests.web.browser import launch, watched_context
    from tests.web.journey import sign_in

    presenter = chosen.api.create_user("presenter", "bench-web-presenter")
    viewer: Account = chosen.api.create_user("viewer", "bench-web-viewer")
    deck = chosen.api.create_deck(
        presenter, [viewer], f"bench web {secrets.token_hex(3)}", pdfs.illustrated(SLIDES)
    )
    timings = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context, watch = watched_context(
            browser,
            chosen.base_url,
            ignore_https_errors=chosen.ignore_https_errors,
            viewport={"width": 1280, "height": 800},
        )
        context.add_init_script(FIRST_SLIDE_PROBE)
        page = context.new_page()
        sign_in(page, viewer)
        page.wait_for_url("**/decks")
        for run in range(WARM_RUNS + 1):
            page.goto(f"/decks/{deck}")
            try:
                page.wait_for_function("() => window.__papFirstSlide !== undefined", timeout=30_000)
            except Error as error:
                shown = page.get_by_role("main").aria_snapshot()
                raise RuntimeError(
                    f"no first slide within 30 s ({error.message.splitlines()[0]}); the page showed:\n"
                    f"{shown}\n" + "\n".join(watch.problems())
                ) from None
            if run > 0:
                timings.append(float(page.evaluate("() => window.__papFirstSlide")))
            time.sleep(1)  # under the per-address rate limits, and the session's beacon lands
        browser.close()
    return timings


def measure_first_slide() -> tuple[list[float], str]:
    """Through the proxy when the stack serves the frontend, else (or when that fails) locally."""
    notes = []
    with stack_target() as chosen:
        if chosen is not None:
            print(f"bench web: time to first slide {chosen.description}", flush=True)
            try:
                return time_to_first_slide(chosen), chosen.description
            except RuntimeError as error:
                print(f"bench web: through the proxy: {error}", flush=True)
                notes.append(f"through the proxy it failed: {str(error).splitlines()[0]}")
    with local_target() as chosen:
        print(f"bench web: time to first slide {chosen.description}", flush=True)
        return time_to_first_slide(chosen), "; ".join([chosen.description, *notes])


def bench() -> str:
    """Both measurements; the BENCHMARKS.md section (or why they are missing)."""
    missing = unavailable() or chromium_unavailable()
    if missing is not None:
        print(f"bench web: SKIPPED: {missing}", flush=True)
        return f"\n## The web viewer\n\nNot measured: {missing}.\n"
    build_web()
    bundle = viewer_bundle()
    verdict = "meets the goal" if bundle.gzip_kb < BUNDLE_GOAL_KB else "ABOVE the goal"
    print(
        f"bench web: viewer route JavaScript {bundle.gzip_kb:.1f} kB gzipped "
        f"({bundle.raw_bytes / 1000:.1f} kB raw, {len(bundle.files)} files; goal < {BUNDLE_GOAL_KB:.0f} kB: "
        f"{verdict})",
        flush=True,
    )
    timings, where = measure_first_slide()
    median = statistics.median(timings)
    print(
        f"bench web: time to first slide, warm, median {median:.0f} ms "
        f"(min {min(timings):.0f}, max {max(timings):.0f}, {len(timings)} runs)",
        flush=True,
    )
    files = "\n".join(f"  - `{name}`" for name in bundle.files)
    size = (
        f"**{bundle.gzip_kb:.1f} kB** ({bundle.raw_bytes / 1000:.1f} kB raw; "
        f"goal < {BUNDLE_GOAL_KB:.0f} kB: {verdict})"
    )
    first_slide = (
        f"**{median:.0f} ms** median (min {min(timings):.0f}, max {max(timings):.0f}; {len(timings)} runs)"
    )
    return f"""
## The web viewer (Chromium {_chromium_version()})

| | |
|---|---|
| JavaScript of the viewer route (`/decks/[id]`), gzipped (level 9) | {size} |
| time to first slide, warm: navigation start to the first slide's image decoded | {first_slide} |

Measured {where}. The files, from `app/web/.next/app-build-manifest.json` (the root
layout's and the page's chunks; the polyfills for browsers without modules left out):
{files}
"""


def _chromium_version() -> str:
    try:
        output = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return "not installed"
    return output.stdout.strip().removeprefix("Chromium ").split()[0] if output.stdout else "?"


if __name__ == "__main__":
    print(bench())
