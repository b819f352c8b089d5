"""Rules on the nginx configuration the proxy container ships: TLS (Mozilla) and response headers (OWASP)."""

from __future__ import annotations

import re
from collections.abc import Callable

from pulumi_policy import ResourceValidationArgs, Severity, StackValidationArgs

from ._policy import Report, resource_policy, stack_policy
from ._props import CONTAINER, Resource, config_value, is_unknown, number
from .nginx_config import (
    Directive,
    NginxConfig,
    effective,
    listens_loopback_only,
    listens_tls,
    load_nginx_config,
    response_blocks,
    uploaded_files,
)
from .tls import INTERMEDIATE, MODERN, PROFILE_CONFIG

PROTOCOLS = {INTERMEDIATE: ("TLSv1.2", "TLSv1.3"), MODERN: ("TLSv1.3",)}
MOZILLA_INTERMEDIATE_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
)
DEFAULT_HSTS_MIN_AGE = 31536000  # one year; REFERENCE section 2 recommends 63072000
DEFAULT_API_PREFIX = "/api/"
UNSAFE_CSP_SOURCES = ("'unsafe-inline'", "'unsafe-eval'")
REDIRECT_CODES = ("301", "308")
HeaderCheck = Callable[[str], bool]


def _hsts_ok(min_age: float) -> HeaderCheck:
    def check(value: str) -> bool:
        match = re.search(r"max-age=(\d+)", value)
        return match is not None and int(match.group(1)) >= min_age

    return check


def _one_of(*allowed: str) -> HeaderCheck:
    return lambda value: value.strip().strip('"').lower() in allowed


def required_headers(min_hsts_age: float) -> dict[str, tuple[HeaderCheck, str]]:
    """Header (lower case) -> (value check, expected value shown in messages); OWASP Secure Headers "
    "Project."""
    return {
        "strict-transport-security": (
            _hsts_ok(min_hsts_age),
            f"max-age>={int(min_hsts_age)}; includeSubDomains",
        ),
        "content-security-policy": (lambda value: bool(value.strip()), "default-src 'self'; ..."),
        "x-content-type-options": (_one_of("nosniff"), "nosniff"),
        "x-frame-options": (_one_of("deny", "sameorigin"), "DENY"),
        "referrer-policy": (
            _one_of("no-referrer", "strict-origin-when-cross-origin", "same-origin", "strict-origin"),
            "no-referrer",
        ),
        "permissions-policy": (lambda value: bool(value.strip()), "camera=(), microphone=(), geolocation=()"),
        "cross-origin-opener-policy": (_one_of("same-origin"), "same-origin"),
        "cross-origin-resource-policy": (_one_of("same-origin", "same-site"), "same-origin"),
        "x-permitted-cross-domain-policies": (_one_of("none"), "none"),
    }


def _proxy_config(args: ResourceValidationArgs) -> tuple[Resource, NginxConfig] | None:
    if args.resource_type != CONTAINER:
        return None
    container = Resource.of(args)
    config = load_nginx_config(container)
    return (container, config) if isinstance(config, NginxConfig) else None


def _where(container: Resource, config: NginxConfig, block: Directive) -> str:
    return f"container '{container.name}' {config.path}, {block.describe()}"


def _tls_servers(config: NginxConfig) -> list[Directive]:
    return [server for server in config.servers() if listens_tls(server)]


def nginx_tls_protocols(args: ResourceValidationArgs, report: Report) -> None:
    found = _proxy_config(args)
    if found is None:
        return
    container, config = found
    profile = str(config_value(args.get_config(), "profile", INTERMEDIATE))
    allowed = PROTOCOLS.get(profile, PROTOCOLS[INTERMEDIATE])
    fix = f"Fix: ssl_protocols {' '.join(allowed)};"
    for directive in (d for d in config.root.walk() if d.name == "ssl_protocols"):
        refused = [protocol for protocol in directive.args if protocol not in allowed]
        if refused:
            report(
                f"{_where(container, config, directive)} enables {', '.join(refused)} ({profile} profile). "
                f"{fix}"
            )
    for server in _tls_servers(config):
        if not effective(server, "ssl_protocols"):
            report(
                f"{_where(container, config, server)} sets no ssl_protocols, so nginx 1.22 also offers TLSv1 "
                f"and TLSv1.1. {fix}"
            )


def nginx_tls_ciphers(args: ResourceValidationArgs, report: Report) -> None:
    found = _proxy_config(args)
    if found is None:
        return
    container, config = found
    profile = str(config_value(args.get_config(), "profile", INTERMEDIATE))
    fix = f"Fix: ssl_ciphers {':'.join(MOZILLA_INTERMEDIATE_CIPHERS)};"
    for server in _tls_servers(config):
        ciphers = effective(server, "ssl_ciphers")
        protocols = {arg for directive in effective(server, "ssl_protocols") for arg in directive.args}
        if not ciphers and (profile == INTERMEDIATE or "TLSv1.2" in protocols):
            report(
                f"{_where(container, config, server)} leaves TLSv1.2 with OpenSSL's default ciphers. {fix}"
            )
        for directive in ciphers:
            names = [name for arg in directive.args for name in arg.split(":") if name]
            refused = [name for name in names if name not in MOZILLA_INTERMEDIATE_CIPHERS]
            if refused:
                report(
                    f"{_where(container, config, directive)} allows ciphers outside Mozilla's intermediate "
                    "list: "
                    f"{', '.join(refused)}. {fix}"
                )


def nginx_server_tokens_off(args: ResourceValidationArgs, report: Report) -> None:
    found = _proxy_config(args)
    if found is None:
        return
    container, config = found
    for server in config.servers():
        tokens = effective(server, "server_tokens")
        if not tokens or tokens[-1].args[:1] != ["off"]:
            report(
                f"{_where(container, config, server)} announces the nginx version (server_tokens is not "
                "off). "
                "Fix: server_tokens off; in the http block."
            )


def _header_values(block: Directive) -> dict[str, Directive]:
    return {
        directive.args[0].lower(): directive for directive in effective(block, "add_header") if directive.args
    }


def _block_problems(
    block: Directive, required: dict[str, tuple[HeaderCheck, str]], api_prefix: str
) -> list[str]:
    headers = _header_values(block)
    problems: list[str] = []
    for name, (check, expected) in required.items():
        directive = headers.get(name)
        if directive is None:
            problems.append(f"{name} missing")
        elif len(directive.args) < 2 or not check(directive.args[1]):
            problems.append(f"{name} is not {expected}")
        elif directive.args[-1] != "always":
            problems.append(f"{name} lacks 'always' (absent on 4xx/5xx)")
    is_api = block.name == "location" and any(arg.startswith(api_prefix) for arg in block.args)
    cache = headers.get("cache-control")
    if is_api and (cache is None or "no-store" not in " ".join(cache.args[1:2]).lower()):
        problems.append("cache-control no-store missing on an API location")
    return problems


def nginx_security_headers(args: ResourceValidationArgs, report: Report) -> None:
    found = _proxy_config(args)
    if found is None:
        return
    container, config = found
    settings = args.get_config()
    required = required_headers(number(config_value(settings, "hstsMinAge", DEFAULT_HSTS_MIN_AGE)) or 0)
    api_prefix = str(config_value(settings, "apiPrefix", DEFAULT_API_PREFIX))
    for server in _tls_servers(config):
        for block in response_blocks(server):
            problems = _block_problems(block, required, api_prefix)
            if problems:
                own = (
                    " (it has add_header of its own, so it inherits none)"
                    if block.children("add_header")
                    else ""
                )
                report(
                    f"{_where(container, config, block)}{own}: {'; '.join(problems)}. Fix: repeat every "
                    "security "
                    "header with 'always' in each block that has any add_header (or keep add_header only "
                    "at server "
                    "level)."
                )


def nginx_csp_strict(args: ResourceValidationArgs, report: Report) -> None:
    found = _proxy_config(args)
    if found is None:
        return
    container, config = found
    for directive in config.root.walk():
        if directive.name != "add_header" or len(directive.args) < 2:
            continue
        if directive.args[0].lower() != "content-security-policy":
            continue
        unsafe = [source for source in UNSAFE_CSP_SOURCES if source in directive.args[1]]
        if unsafe:
            report(
                f"{_where(container, config, directive)} allows {' and '.join(unsafe)} in its CSP, which "
                "re-opens "
                "XSS. Fix: remove them; move inline scripts and styles to files (or use nonces)."
            )


def _redirects_to_https(block: Directive) -> bool:
    return any(
        len(directive.args) >= 2
        and directive.args[0] in REDIRECT_CODES
        and directive.args[1].startswith("https://")
        for directive in block.children("return")
    )


def nginx_http_redirect_only(args: ResourceValidationArgs, report: Report) -> None:
    found = _proxy_config(args)
    if found is None:
        return
    container, config = found
    for server in config.servers():
        if listens_tls(server) or listens_loopback_only(server) or _redirects_to_https(server):
            continue
        locations = server.children("location")
        if locations and all(_redirects_to_https(location) for location in locations):
            continue
        report(
            f"{_where(container, config, server)} serves plain HTTP instead of redirecting. "
            "Fix: return 308 https://$host$request_uri; as the server's only handler."
        )


def _uploads_unknown(container: Resource) -> bool:
    uploads = container.get("uploads")
    return is_unknown(uploads) or (
        isinstance(uploads, list)
        and any(not isinstance(upload, dict) or is_unknown(upload.get("file")) for upload in uploads)
    )


def nginx_config_present(args: StackValidationArgs, report: Report) -> None:
    proxies = [
        resource
        for resource in (Resource.of(resource) for resource in args.resources)
        if resource.type == CONTAINER and resource.role == "proxy"
    ]
    if not proxies:
        return
    shipped = [(proxy, load_nginx_config(proxy)) for proxy in proxies]
    if any(isinstance(config, NginxConfig) for _, config in shipped):
        return
    for proxy, config in shipped:
        if isinstance(config, str):
            report(
                f"proxy container '{proxy.name}': {config}. Fix: render the config with crossplane.",
                proxy.urn,
            )
            return
    if any(_uploads_unknown(proxy) for proxy in proxies) or any(
        path.endswith("nginx.conf") for proxy in proxies for path in uploaded_files(proxy)
    ):
        return  # known only during the update, when the rules run again
    report(
        "no proxy container (pap.role proxy) uploads an nginx.conf, so the TLS and header rules had "
        "nothing to "
        "check. Fix: upload the proxy's config as .../nginx.conf into the proxy (or its seed) container.",
        proxies[0].urn,
    )


_PROXY_REFERENCE_HEADERS = "OWASP Secure Headers Project; OWASP ASVS V14.4"
_MOZILLA = "Mozilla Server Side TLS 6.0"

POLICIES = [
    stack_policy(
        "nginx-config-present",
        nginx_config_present,
        prohibits="A proxy without a parsable uploaded nginx.conf is prohibited: the TLS and header rules "
        "could not "
        "check what it serves.",
        reference=f"{_MOZILLA}; {_PROXY_REFERENCE_HEADERS}",
        severity=Severity.MEDIUM,
    ),
    resource_policy(
        "nginx-tls-protocols",
        nginx_tls_protocols,
        prohibits="TLS protocols other than TLSv1.2/TLSv1.3 (TLSv1.3 only under the modern profile) are "
        "prohibited, "
        "and TLS servers must set ssl_protocols (nginx 1.22 defaults include TLSv1 and TLSv1.1).",
        reference=_MOZILLA,
        config=PROFILE_CONFIG,
    ),
    resource_policy(
        "nginx-tls-ciphers",
        nginx_tls_ciphers,
        prohibits="Cipher suites outside Mozilla's intermediate list are prohibited (no CBC, RSA key "
        "exchange, "
        "3DES or RC4).",
        reference=_MOZILLA,
        config=PROFILE_CONFIG,
    ),
    resource_policy(
        "nginx-server-tokens-off",
        nginx_server_tokens_off,
        prohibits="Announcing the nginx version is prohibited: it tells attackers which CVEs apply.",
        reference=f"{_PROXY_REFERENCE_HEADERS} (remove Server version)",
        severity=Severity.LOW,
    ),
    resource_policy(
        "nginx-security-headers",
        nginx_security_headers,
        prohibits="Every TLS server and location must send all OWASP security headers (HSTS >= 1 year, CSP, "
        "X-Content-Type-Options, X-Frame-Options, Referrer-Policy, Permissions-Policy, COOP, CORP, "
        "X-Permitted-Cross-Domain-Policies; Cache-Control no-store on API locations) with 'always'. A "
        "block with "
        "its own add_header inherits none from its parents, the trap this rule exists for.",
        reference=_PROXY_REFERENCE_HEADERS,
        config={
            "hstsMinAge": {"type": "integer", "minimum": 0, "default": DEFAULT_HSTS_MIN_AGE},
            "apiPrefix": {"type": "string", "default": DEFAULT_API_PREFIX},
        },
    ),
    resource_policy(
        "nginx-csp-strict",
        nginx_csp_strict,
        prohibits="A Content-Security-Policy with 'unsafe-inline' or 'unsafe-eval' is prohibited: it "
        "re-enables "
        "the script injection CSP exists to stop.",
        reference="OWASP Secure Headers Project (CSP); OWASP ASVS V14.4.3",
    ),
    resource_policy(
        "nginx-http-redirect-only",
        nginx_http_redirect_only,
        prohibits="Plain-HTTP servers reachable from outside the container may only redirect to HTTPS "
        "(301/308); "
        "loopback-only servers (container health endpoints) are exempt.",
        reference=f"{_MOZILLA} (HSTS, redirect); OWASP ASVS V9.1.1",
    ),
]
