"""Content-Security-Policy values as the nginx rules judge them: nginx's own, and a frontend's template.

A frontend that makes its CSP per response (a fresh script nonce each time) cannot have nginx add it; nginx
passes the frontend's header through, and the template the frontend fills in is what the pack can check: the
service's `PAP_WEB_CSP`, where every `{nonce}` becomes that response's nonce (app/web's contract).
"""

from __future__ import annotations

# Sources that re-open script or style injection, anywhere in a policy.
UNSAFE_SOURCES = ("'unsafe-inline'", "'unsafe-eval'")
# A frontend template refuses the rest of the unsafe keywords too, as the frontend itself does.
TEMPLATE_UNSAFE_SOURCES = (*UNSAFE_SOURCES, "'unsafe-hashes'", "'wasm-unsafe-eval'")
TEMPLATE_ENV = "PAP_WEB_CSP"
NONCE_SOURCE = "'nonce-{nonce}'"
BASE_URI_SOURCES = ("'none'", "'self'")


def unsafe_sources(policy: str, sources: tuple[str, ...] = UNSAFE_SOURCES) -> list[str]:
    lowered = policy.lower()
    return [source for source in sources if source in lowered]


def directives(policy: str) -> dict[str, list[str]]:
    """Directive name (lower case) -> its sources; a repeated directive counts once, as in browsers."""
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            parsed.setdefault(words[0].lower(), [word.lower() for word in words[1:]])
    return parsed


def template_problems(template: str) -> list[str]:
    """Why a frontend's CSP template is not strict enough (empty when it is)."""
    problems = [f"allows {source}" for source in unsafe_sources(template, TEMPLATE_UNSAFE_SOURCES)]
    parsed = directives(template)
    if NONCE_SOURCE not in parsed.get("script-src", []):
        problems.append(f"its script-src has no {NONCE_SOURCE} (scripts are not bound to the response)")
    if parsed.get("object-src") != ["'none'"]:
        problems.append("object-src is not 'none' (plugins can run script)")
    base_uri = parsed.get("base-uri")
    if not base_uri or any(source not in BASE_URI_SOURCES for source in base_uri):
        problems.append(
            "base-uri is missing or not 'none'/'self' (a <base> tag could redirect relative URLs)"
        )
    if parsed.get("frame-ancestors") != ["'none'"]:
        problems.append("frame-ancestors is not 'none' (the pages could be framed: clickjacking)")
    return problems
