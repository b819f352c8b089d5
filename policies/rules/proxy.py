"""Rules on the nginx configuration the proxy service mounts: TLS (Mozilla) and response headers (OWASP).

The config is a docker.ServiceConfig the service mounts (taskSpec.containerSpec.configs), so these are stack
rules: each one finds the services that mount an nginx.conf, parses it with what it includes, and reports on
the ServiceConfig that holds the main file (where the fix goes), or on the service whose setting is at fault.
A location that neither adds nor hides a Content-Security-Policy passes its upstream's through (a frontend
that makes a nonce per response): its upstream is found by the host its proxy_pass names (a service's name
or network alias), and that service's CSP template (`PAP_WEB_CSP`) is checked instead (csp.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import Severity, StackValidationArgs

from ._policy import Report, stack_policy
from ._props import Resource, config_value, dicts, is_unknown, number, services, strings
from .csp import TEMPLATE_ENV, UNSAFE_SOURCES, template_problems, unsafe_sources
from .nginx_config import (
    Directive,
    NginxConfig,
    effective,
    listens_loopback_only,
    listens_tls,
    load_nginx_config,
    main_config_path,
    mounted_files,
    mounts_unknown,
    proxied_host,
    response_blocks,
    service_configs,
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
PROXY_ROLE = "proxy"
CSP = "content-security-policy"
REDIRECT_CODES = ("301", "308")
HeaderCheck = Callable[[str], bool]
Settings = Mapping[str, Any] | None


@dataclass(frozen=True)
class Finding:
    block: Directive  # where in the config
    problem: str  # what is wrong, and the fix
    subject: Resource | None = None  # the resource the fix goes to, when it is not the nginx config


@dataclass(frozen=True)
class Upstreams:
    """The stack's services by every name nginx can reach them by: the service's name and its aliases."""

    by_host: Mapping[str, list[Resource]] = field(default_factory=dict)

    @classmethod
    def of(cls, declared: Iterable[Resource]) -> Upstreams:
        by_host: dict[str, list[Resource]] = {}
        for service in declared:
            names = [service.get("name")]
            names += [
                alias
                for network in dicts(service.at("taskSpec", "networksAdvanceds"))
                for alias in strings(network.get("aliases"))
            ]
            for name in {name for name in names if isinstance(name, str)}:
                by_host.setdefault(name, []).append(service)
        return cls(by_host)

    def serving(self, block: Directive) -> list[Resource]:
        """The services a block's proxy_pass forwards to (none: it proxies nothing the stack declares)."""
        host = proxied_host(block)
        return list(self.by_host.get(host, [])) if host else []


# A check of one parsed config, given the stack's services.
ConfigCheck = Callable[[NginxConfig, Settings, Upstreams], Iterator[Finding]]


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


def _tls_servers(config: NginxConfig) -> list[Directive]:
    return [server for server in config.servers() if listens_tls(server)]


def nginx_rule(check: ConfigCheck) -> Callable[[StackValidationArgs, Report], None]:
    """A stack rule that runs `check` on every parsable nginx.conf a service mounts."""

    def validate(args: StackValidationArgs, report: Report) -> None:
        configs = service_configs(args.resources)
        settings = args.get_config()
        declared = services(args.resources)
        upstreams = Upstreams.of(declared)
        for service in declared:
            config = load_nginx_config(service, configs)
            if not isinstance(config, NginxConfig):
                continue
            source = config.source
            held = f" (service config '{source.name}')" if source is not None else ""
            for finding in check(config, settings, upstreams):
                subject = finding.subject or source or service
                report(
                    f"service '{service.name}' {config.path}{held}, {finding.block.describe()}: "
                    f"{finding.problem}",
                    subject.urn,
                )

    validate.__name__ = check.__name__
    return validate


def check_tls_protocols(config: NginxConfig, settings: Settings, upstreams: Upstreams) -> Iterator[Finding]:
    profile = str(config_value(settings, "profile", INTERMEDIATE))
    allowed = PROTOCOLS.get(profile, PROTOCOLS[INTERMEDIATE])
    fix = f"Fix: ssl_protocols {' '.join(allowed)};"
    for directive in (d for d in config.root.walk() if d.name == "ssl_protocols"):
        refused = [protocol for protocol in directive.args if protocol not in allowed]
        if refused:
            yield Finding(directive, f"enables {', '.join(refused)} ({profile} profile). {fix}")
    for server in _tls_servers(config):
        if not effective(server, "ssl_protocols"):
            yield Finding(
                server, f"sets no ssl_protocols, so nginx 1.22 also offers TLSv1 and TLSv1.1. {fix}"
            )


def check_tls_ciphers(config: NginxConfig, settings: Settings, upstreams: Upstreams) -> Iterator[Finding]:
    profile = str(config_value(settings, "profile", INTERMEDIATE))
    fix = f"Fix: ssl_ciphers {':'.join(MOZILLA_INTERMEDIATE_CIPHERS)};"
    for server in _tls_servers(config):
        ciphers = effective(server, "ssl_ciphers")
        protocols = {arg for directive in effective(server, "ssl_protocols") for arg in directive.args}
        if not ciphers and (profile == INTERMEDIATE or "TLSv1.2" in protocols):
            yield Finding(server, f"leaves TLSv1.2 with OpenSSL's default ciphers. {fix}")
        for directive in ciphers:
            names = [name for arg in directive.args for name in arg.split(":") if name]
            refused = [name for name in names if name not in MOZILLA_INTERMEDIATE_CIPHERS]
            if refused:
                yield Finding(
                    directive,
                    f"allows ciphers outside Mozilla's intermediate list: {', '.join(refused)}. {fix}",
                )


def check_server_tokens_off(
    config: NginxConfig, settings: Settings, upstreams: Upstreams
) -> Iterator[Finding]:
    for server in config.servers():
        tokens = effective(server, "server_tokens")
        if not tokens or tokens[-1].args[:1] != ["off"]:
            yield Finding(
                server,
                "announces the nginx version (server_tokens is not off). Fix: server_tokens off; in http.",
            )


def _header_values(block: Directive) -> dict[str, Directive]:
    return {
        directive.args[0].lower(): directive for directive in effective(block, "add_header") if directive.args
    }


def csp_from_upstream(block: Directive, upstreams: Upstreams) -> list[Resource]:
    """The services whose own CSP a block passes through: it proxies to them, adds no CSP of its own and
    hides none (proxy_hide_header is inherited like add_header). Empty for every other block."""
    if block.name != "location" or CSP in _header_values(block):
        return []
    hidden = {arg.lower() for directive in effective(block, "proxy_hide_header") for arg in directive.args}
    return [] if CSP in hidden else upstreams.serving(block)


def _template(service: Resource) -> str | None:
    """The service's CSP template (PAP_WEB_CSP), or None when it declares none."""
    value = service.spec("env", TEMPLATE_ENV)
    return value if isinstance(value, str) and value.strip() else None


def _declares_template(service: Resource) -> bool:
    # Unknown during a preview (an env computed from another output) counts as declared: `pulumi up` checks
    # again with the value known.
    return (
        is_unknown(service.spec("env"))
        or is_unknown(service.spec("env", TEMPLATE_ENV))
        or (_template(service) is not None)
    )


def _csp_problem(block: Directive, upstreams: Upstreams) -> str | None:
    """Why a block without its own CSP is not covered by its upstream's, or None when it is."""
    senders = csp_from_upstream(block, upstreams)
    if not senders:
        return f"{CSP} missing"
    silent = [service.name for service in senders if not _declares_template(service)]
    if not silent:
        return None
    return (
        f"{CSP} missing: not added here, and the upstream service '{', '.join(silent)}' whose CSP it passes "
        f"through declares no {TEMPLATE_ENV} (set {TEMPLATE_ENV} on that service, or add the header here)"
    )


def _block_problems(
    block: Directive,
    required: dict[str, tuple[HeaderCheck, str]],
    api_prefix: str,
    upstreams: Upstreams,
) -> list[str]:
    headers = _header_values(block)
    problems: list[str] = []
    for name, (check, expected) in required.items():
        directive = headers.get(name)
        if directive is None:
            problem = _csp_problem(block, upstreams) if name == CSP else f"{name} missing"
            if problem is not None:
                problems.append(problem)
        elif len(directive.args) < 2 or not check(directive.args[1]):
            problems.append(f"{name} is not {expected}")
        elif directive.args[-1] != "always":
            problems.append(f"{name} lacks 'always' (absent on 4xx/5xx)")
    # A regex location (`~ ^/api/...`) is an API location too.
    is_api = block.name == "location" and any(
        arg.removeprefix("^").startswith(api_prefix) for arg in block.args
    )
    cache = headers.get("cache-control")
    value = " ".join(cache.args[1:2]).lower() if cache is not None else ""
    # API answers are never stored, except by the browser alone (`private`), for what never changes.
    if is_api and "no-store" not in value and not ("private" in value and "public" not in value):
        problems.append("cache-control on an API location is neither no-store nor private")
    return problems


def check_security_headers(
    config: NginxConfig, settings: Settings, upstreams: Upstreams
) -> Iterator[Finding]:
    required = required_headers(number(config_value(settings, "hstsMinAge", DEFAULT_HSTS_MIN_AGE)) or 0)
    api_prefix = str(config_value(settings, "apiPrefix", DEFAULT_API_PREFIX))
    for server in _tls_servers(config):
        for block in response_blocks(server):
            problems = _block_problems(block, required, api_prefix, upstreams)
            if problems:
                own = (
                    " (the block has add_header of its own, so it inherits none)"
                    if block.children("add_header")
                    else ""
                )
                yield Finding(
                    block,
                    f"{'; '.join(problems)}{own}. Fix: repeat every security header with 'always' in each "
                    "block that has any add_header (or keep add_header only at server level).",
                )


def check_csp_strict(config: NginxConfig, settings: Settings, upstreams: Upstreams) -> Iterator[Finding]:
    for directive in config.root.walk():
        if directive.name != "add_header" or len(directive.args) < 2 or directive.args[0].lower() != CSP:
            continue
        unsafe = unsafe_sources(directive.args[1], UNSAFE_SOURCES)
        if unsafe:
            yield Finding(
                directive,
                f"allows {' and '.join(unsafe)} in its CSP, which re-opens XSS. Fix: remove them; move "
                "inline scripts and styles to files (or use nonces).",
            )
    # The CSP a frontend makes per response: its template, once per service whose CSP reaches clients.
    judged: set[str] = set()
    for server in _tls_servers(config):
        for block in response_blocks(server):
            for service in csp_from_upstream(block, upstreams):
                template = _template(service)
                if service.urn in judged or template is None:
                    continue  # none declared: nginx-security-headers reports the missing CSP
                judged.add(service.urn)
                problems = template_problems(template)
                if problems:
                    yield Finding(
                        block,
                        f"passes through the CSP of service '{service.name}', whose {TEMPLATE_ENV} "
                        f"{'; '.join(problems)}. Fix: in taskSpec.containerSpec.env.{TEMPLATE_ENV}, no "
                        "'unsafe-*' source, script-src with 'nonce-{nonce}', object-src 'none', base-uri "
                        "'none' (or 'self'), frame-ancestors 'none'.",
                        subject=service,
                    )


def _redirects_to_https(block: Directive) -> bool:
    return any(
        len(directive.args) >= 2
        and directive.args[0] in REDIRECT_CODES
        and directive.args[1].startswith("https://")
        for directive in block.children("return")
    )


def check_http_redirect_only(
    config: NginxConfig, settings: Settings, upstreams: Upstreams
) -> Iterator[Finding]:
    for server in config.servers():
        if listens_tls(server) or listens_loopback_only(server) or _redirects_to_https(server):
            continue
        locations = server.children("location")
        if locations and all(_redirects_to_https(location) for location in locations):
            continue
        yield Finding(
            server, "serves plain HTTP instead of redirecting. Fix: return 308 https://$host$request_uri;"
        )


def nginx_config_present(args: StackValidationArgs, report: Report) -> None:
    proxies = [service for service in services(args.resources) if service.role == PROXY_ROLE]
    configs = service_configs(args.resources)
    shipped = [(proxy, load_nginx_config(proxy, configs)) for proxy in proxies]
    if not proxies or any(isinstance(config, NginxConfig) for _, config in shipped):
        return
    for proxy, config in shipped:
        if isinstance(config, str):
            report(
                f"proxy service '{proxy.name}': {config}. Fix: render the config with crossplane and give "
                "its ServiceConfig the base64 of the text as data.",
                _holder(proxy, configs).urn,
            )
            return
    if any(mounts_unknown(proxy) or _mounted_but_unknown(proxy, configs) for proxy in proxies):
        return  # known only during the update, when the rules run again
    report(
        f"no proxy service (pap.role {PROXY_ROLE}) mounts an nginx.conf from a docker.ServiceConfig of this "
        "stack, so the TLS and header rules had nothing to check. Fix: declare the config as a "
        "ServiceConfig and mount it in taskSpec.containerSpec.configs with fileName "
        "/run/pap/nginx/nginx.conf (configName = the ServiceConfig's name).",
        proxies[0].urn,
    )


def _mounted_but_unknown(proxy: Resource, configs: Mapping[str, Resource]) -> bool:
    """An nginx.conf is mounted from a declared config whose data a preview does not know yet."""
    files = mounted_files(proxy, configs)
    main = main_config_path(files)
    return main is not None and files[main].source is not None and files[main].content is None


def _holder(proxy: Resource, configs: Mapping[str, Resource]) -> Resource:
    files = mounted_files(proxy, configs)
    main = main_config_path(files)
    source = files[main].source if main is not None else None
    return source or proxy


nginx_tls_protocols = nginx_rule(check_tls_protocols)
nginx_tls_ciphers = nginx_rule(check_tls_ciphers)
nginx_server_tokens_off = nginx_rule(check_server_tokens_off)
nginx_security_headers = nginx_rule(check_security_headers)
nginx_csp_strict = nginx_rule(check_csp_strict)
nginx_http_redirect_only = nginx_rule(check_http_redirect_only)

_PROXY_REFERENCE_HEADERS = "OWASP Secure Headers Project; OWASP ASVS V14.4"
_MOZILLA = "Mozilla Server Side TLS 6.0"

POLICIES = [
    stack_policy(
        "nginx-config-present",
        nginx_config_present,
        prohibits="A proxy service without a parsable nginx.conf mounted from a docker.ServiceConfig is "
        "prohibited: the TLS and header rules could not check what it serves.",
        reference=f"{_MOZILLA}; {_PROXY_REFERENCE_HEADERS}",
        severity=Severity.MEDIUM,
    ),
    stack_policy(
        "nginx-tls-protocols",
        nginx_tls_protocols,
        prohibits="TLS protocols other than TLSv1.2/TLSv1.3 (TLSv1.3 only under the modern profile) are "
        "prohibited, and TLS servers must set ssl_protocols (nginx 1.22 defaults include TLSv1 and TLSv1.1).",
        reference=_MOZILLA,
        config=PROFILE_CONFIG,
    ),
    stack_policy(
        "nginx-tls-ciphers",
        nginx_tls_ciphers,
        prohibits="Cipher suites outside Mozilla's intermediate list are prohibited (no CBC, RSA key "
        "exchange, 3DES or RC4).",
        reference=_MOZILLA,
        config=PROFILE_CONFIG,
    ),
    stack_policy(
        "nginx-server-tokens-off",
        nginx_server_tokens_off,
        prohibits="Announcing the nginx version is prohibited: it tells attackers which CVEs apply.",
        reference=f"{_PROXY_REFERENCE_HEADERS} (remove Server version)",
        severity=Severity.LOW,
    ),
    stack_policy(
        "nginx-security-headers",
        nginx_security_headers,
        prohibits="Every TLS server and location must send all OWASP security headers (HSTS >= 1 year, CSP, "
        "X-Content-Type-Options, X-Frame-Options, Referrer-Policy, Permissions-Policy, COOP, CORP, "
        "X-Permitted-Cross-Domain-Policies; Cache-Control no-store on API locations, or private for what the "
        "browser alone may keep) with 'always'. A "
        "block with its own add_header inherits none from its parents, the trap this rule exists for. A "
        "location that passes its upstream's CSP through (a frontend's per-response nonce) is covered only "
        "when that service declares its CSP template in PAP_WEB_CSP.",
        reference=_PROXY_REFERENCE_HEADERS,
        config={
            "hstsMinAge": {"type": "integer", "minimum": 0, "default": DEFAULT_HSTS_MIN_AGE},
            "apiPrefix": {"type": "string", "default": DEFAULT_API_PREFIX},
        },
    ),
    stack_policy(
        "nginx-csp-strict",
        nginx_csp_strict,
        prohibits="A Content-Security-Policy with 'unsafe-inline' or 'unsafe-eval' is prohibited: it "
        "re-enables the script injection CSP exists to stop. A frontend's CSP that the proxy passes through "
        "(its PAP_WEB_CSP template) must also bind scripts to the response (script-src 'nonce-{nonce}') and "
        "set object-src 'none', base-uri 'none' or 'self', and frame-ancestors 'none'.",
        reference="OWASP Secure Headers Project (CSP); OWASP ASVS V14.4.3",
    ),
    stack_policy(
        "nginx-http-redirect-only",
        nginx_http_redirect_only,
        prohibits="Plain-HTTP servers reachable from outside the task may only redirect to HTTPS (301/308); "
        "loopback-only servers (the task's health endpoint) are exempt.",
        reference=f"{_MOZILLA} (HSTS, redirect); OWASP ASVS V9.1.1",
    ),
]
