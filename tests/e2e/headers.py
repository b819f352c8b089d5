"""The response headers every answer of the edge must carry (REFERENCE.md section 2, OWASP Secure Headers)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

HSTS_MIN_AGE = 63072000  # two years


def _strong_hsts(value: str) -> bool:
    age = re.search(r"max-age=(\d+)", value)
    return age is not None and int(age.group(1)) >= HSTS_MIN_AGE and "includesubdomains" in value.lower()


# Expected values come from the reference, not from the code under test.
REQUIRED: dict[str, Callable[[str], bool]] = {
    "strict-transport-security": _strong_hsts,
    "content-security-policy": lambda v: (
        all(
            part in v
            for part in (
                "default-src 'self'",
                "form-action 'self'",
                "base-uri 'self'",
                "object-src 'none'",
                "frame-ancestors 'none'",
            )
        )
        and "unsafe-inline" not in v
        and "unsafe-eval" not in v
    ),
    "x-content-type-options": lambda v: v == "nosniff",
    "x-frame-options": lambda v: v == "DENY",
    "referrer-policy": lambda v: v in ("no-referrer", "strict-origin-when-cross-origin"),
    "permissions-policy": lambda v: all(
        f"{feature}=()" in v for feature in ("camera", "microphone", "geolocation")
    ),
    "cross-origin-opener-policy": lambda v: v == "same-origin",
    "cross-origin-resource-policy": lambda v: v == "same-origin",
    "x-permitted-cross-domain-policies": lambda v: v == "none",
}
API_REQUIRED: dict[str, Callable[[str], bool]] = {"cache-control": lambda v: "no-store" in v}


def header_problems(headers: Mapping[str, str], api: bool) -> list[str]:
    """Every missing or wrong security header, and any Server version or X-Powered-By."""
    lowered = {key.lower(): value for key, value in headers.items()}
    problems = []
    for name, acceptable in {**REQUIRED, **(API_REQUIRED if api else {})}.items():
        value = lowered.get(name)
        if value is None:
            problems.append(f"missing {name}")
        elif not acceptable(value):
            problems.append(f"{name}: {value!r}")
    server = lowered.get("server", "")
    if re.search(r"\d", server):
        problems.append(f"server version disclosed: {server!r}")
    if "x-powered-by" in lowered:
        problems.append(f"x-powered-by: {lowered['x-powered-by']!r}")
    xss = lowered.get("x-xss-protection")
    if xss not in (None, "0"):
        problems.append(f"x-xss-protection: {xss!r} (deprecated: send 0 or nothing)")
    return problems
