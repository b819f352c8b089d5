"""nginx rules called directly (no analyzer): nginx.conf and its includes in ServiceConfigs a proxy mounts."""

from __future__ import annotations

from typing import Any

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.rules import (
    proxy,
)
from policies.rules._props import (
    SERVICE_CONFIG,
)
from policies.rules.csp import template_problems
from tests.policies.support import (
    encode,
    plan_item,
    run_stack_rule,
    service_item,
)

NGINX = """
events {}
http {
    server_tokens off;
    include /run/pap/nginx/conf.d/*.conf;
}
"""
TLS_SERVER = """
server {
    listen 8443 ssl;
    ssl_protocols TLSv1.3;
    %(headers)s
    location / { proxy_pass http://backend; }
    location /static/ { add_header Cache-Control "max-age=60" always; }
}
server { listen 127.0.0.1:8081; location / { return 200; } }
"""
ALL_HEADERS = "\n".join(
    f"add_header {name} {value} always;"
    for name, value in [
        ("Strict-Transport-Security", '"max-age=63072000; includeSubDomains"'),
        ("Content-Security-Policy", "\"default-src 'self'\""),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Permissions-Policy", '"camera=()"'),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("X-Permitted-Cross-Domain-Policies", "none"),
    ]
)


def _proxy_stack(files: dict[str, str | None], role: str = "proxy") -> list[dict[str, Any]]:
    """A proxy service mounting one ServiceConfig per file (content None: unknown during a preview)."""
    configs = [
        plan_item(
            SERVICE_CONFIG,
            f"config-{index}",
            {
                "name": f"conf-{index}",
                "data": encode(content) if content is not None else UNKNOWN_STRING_VALUE,
            },
        )
        for index, content in enumerate(files.values())
    ]
    mounts = [
        {"configId": f"id-{index}", "configName": f"conf-{index}", "fileName": path}
        for index, path in enumerate(files)
    ]
    return [*configs, service_item("proxy", role, taskSpec={"containerSpec": {"configs": mounts}})]


def _site(headers: str = ALL_HEADERS) -> list[dict[str, Any]]:
    return _proxy_stack(
        {
            "/run/pap/nginx/nginx.conf": NGINX,
            "/run/pap/nginx/conf.d/site.conf": TLS_SERVER % {"headers": headers},
        }
    )


def test_headers_follow_includes_and_catch_the_inheritance_trap() -> None:
    reported = run_stack_rule(proxy.nginx_security_headers, _site(), {"hstsMinAge": 31536000})
    # The server and `location /` are complete; /static/ has its own add_header and so inherits nothing.
    assert len(reported) == 1
    message, urn = reported[0]
    assert "location /static/" in message and "inherits none" in message
    assert "x-frame-options missing" in message
    assert urn == _site()[0]["urn"]  # reported on the ServiceConfig that holds nginx.conf


def test_modern_profile_needs_no_ciphers_and_loopback_http_is_exempt() -> None:
    assert run_stack_rule(proxy.nginx_tls_ciphers, _site(), {"profile": "modern"}) == []
    assert run_stack_rule(proxy.nginx_tls_protocols, _site(), {"profile": "modern"}) == []
    assert run_stack_rule(proxy.nginx_http_redirect_only, _site()) == []
    assert run_stack_rule(proxy.nginx_tls_ciphers, _site(), {"profile": "intermediate"})


def test_missing_ssl_protocols_fires() -> None:
    site = _proxy_stack(
        {
            "/run/pap/nginx/nginx.conf": NGINX,
            "/run/pap/nginx/conf.d/site.conf": (TLS_SERVER % {"headers": ALL_HEADERS}).replace(
                "ssl_protocols TLSv1.3;", ""
            ),
        }
    )
    reported = run_stack_rule(proxy.nginx_tls_protocols, site, {"profile": "intermediate"})
    assert reported and "TLSv1 and TLSv1.1" in reported[0][0]


def test_config_present_unknown_broken_and_missing() -> None:
    rule = proxy.nginx_config_present
    assert run_stack_rule(rule, _site()) == []
    assert run_stack_rule(rule, _proxy_stack({"/run/pap/nginx/nginx.conf": None})) == []  # preview
    broken = _proxy_stack({"/run/pap/nginx/nginx.conf": NGINX})
    broken[0]["inputs"]["data"] = "not base64!"
    reported = run_stack_rule(rule, broken)
    assert len(reported) == 1 and "not base64" in reported[0][0] and reported[0][1] == broken[0]["urn"]
    only_cert = _proxy_stack({"/run/pap/nginx/tls/server.crt": "-----BEGIN CERTIFICATE-----\n"})
    assert len(run_stack_rule(rule, only_cert)) == 1
    assert run_stack_rule(rule, _proxy_stack({}, role="backend")) == []  # no proxy, nothing to check


def _api_location(location: str, cache_control: str) -> list[dict[str, Any]]:
    site = (
        f"server {{\n    listen 8443 ssl;\n    ssl_protocols TLSv1.3;\n    {ALL_HEADERS}\n"
        f"    {location} {{ proxy_pass http://backend; {ALL_HEADERS}\n"
        f"        add_header Cache-Control {cache_control} always; }}\n}}\n"
    )
    return _proxy_stack({"/run/pap/nginx/nginx.conf": NGINX, "/run/pap/nginx/conf.d/site.conf": site})


def test_api_locations_are_never_stored_by_a_shared_cache() -> None:
    regex = "location ~ ^/api/v1/presentations/[0-9a-f-]+/deck/[0-9]+/slides/[0-9]+$"
    settings = {"hstsMinAge": 31536000}
    for location in ("location /api/v1/", regex):
        for allowed in ("no-store", '"private, max-age=31536000, immutable"'):
            site = _api_location(location, allowed)
            assert run_stack_rule(proxy.nginx_security_headers, site, settings) == []
        for stored in ('"max-age=60"', '"public, max-age=31536000, immutable"'):
            reported = run_stack_rule(proxy.nginx_security_headers, _api_location(location, stored), settings)
            assert len(reported) == 1, (location, stored)
            assert "neither no-store nor private" in reported[0][0]


# ---------------------------------------------------------------- a frontend's CSP, passed through

STRICT_TEMPLATE = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'strict-dynamic'; "
    "style-src 'self' 'nonce-{nonce}'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS_BUT_CSP = "\n".join(
    line for line in ALL_HEADERS.splitlines() if "Content-Security-Policy" not in line
)
FRONTEND_SITE = """
server {
    listen 8443 ssl;
    ssl_protocols TLSv1.3;
    %(headers)s
    set $web web:3000;
    location / { proxy_pass http://$web; %(location)s }
}
"""


def _frontend(env: dict[str, str] | str | None, aliases: tuple[str, ...] = ("web",)) -> dict[str, Any]:
    container: dict[str, Any] = {} if env is None else {"env": env}
    item = service_item(
        "pap-test-web",
        "web",
        taskSpec={
            "containerSpec": container,
            "networksAdvanceds": [{"name": "app", "aliases": list(aliases)}],
        },
    )
    item["inputs"]["name"] = "pap-test-web"  # the physical name, which Swarm's DNS answers too
    return item


def _frontend_stack(
    env: dict[str, str] | str | None, location: str = HEADERS_BUT_CSP, aliases: tuple[str, ...] = ("web",)
) -> list[dict[str, Any]]:
    site = FRONTEND_SITE % {"headers": ALL_HEADERS, "location": location}
    files = {"/run/pap/nginx/nginx.conf": NGINX, "/run/pap/nginx/conf.d/site.conf": site}
    return [*_proxy_stack(files), _frontend(env, aliases)]


SETTINGS = {"hstsMinAge": 31536000}


def test_a_location_passing_a_declared_frontend_csp_through_needs_no_csp_of_its_own() -> None:
    stack = _frontend_stack({"PAP_WEB_CSP": STRICT_TEMPLATE})
    assert run_stack_rule(proxy.nginx_security_headers, stack, SETTINGS) == []
    assert run_stack_rule(proxy.nginx_csp_strict, stack) == []


def test_a_frontend_without_its_template_leaves_the_location_without_csp() -> None:
    reported = run_stack_rule(proxy.nginx_security_headers, _frontend_stack({"PORT": "3000"}), SETTINGS)
    assert len(reported) == 1
    message, _ = reported[0]
    assert "location /" in message and "content-security-policy missing" in message
    assert "'pap-test-web'" in message and "declares no PAP_WEB_CSP" in message


def test_hiding_the_frontend_csp_or_proxying_elsewhere_is_a_missing_csp() -> None:
    hidden = _frontend_stack(
        {"PAP_WEB_CSP": STRICT_TEMPLATE}, HEADERS_BUT_CSP + " proxy_hide_header Content-Security-Policy;"
    )
    unknown_host = _frontend_stack({"PAP_WEB_CSP": STRICT_TEMPLATE}, aliases=("pages",))
    for stack in (hidden, unknown_host):
        reported = run_stack_rule(proxy.nginx_security_headers, stack, SETTINGS)
        assert len(reported) == 1 and "content-security-policy missing" in reported[0][0]
        assert "PAP_WEB_CSP" not in reported[0][0]  # no upstream whose CSP could cover it


def test_the_frontend_is_found_by_its_service_name_too() -> None:
    site = (FRONTEND_SITE % {"headers": ALL_HEADERS, "location": HEADERS_BUT_CSP}).replace(
        "web:3000", "pap-test-web:3000"
    )
    files = {"/run/pap/nginx/nginx.conf": NGINX, "/run/pap/nginx/conf.d/site.conf": site}
    stack = [*_proxy_stack(files), _frontend({"PAP_WEB_CSP": STRICT_TEMPLATE}, aliases=())]
    assert run_stack_rule(proxy.nginx_security_headers, stack, SETTINGS) == []


def test_a_frontend_env_unknown_in_a_preview_is_judged_later() -> None:
    for env in (UNKNOWN_STRING_VALUE, {"PAP_WEB_CSP": UNKNOWN_STRING_VALUE}):
        stack = _frontend_stack(env)
        assert run_stack_rule(proxy.nginx_security_headers, stack, SETTINGS) == []
        assert run_stack_rule(proxy.nginx_csp_strict, stack) == []


WEAK_TEMPLATES = {
    "unsafe-inline": (
        STRICT_TEMPLATE.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"),
        "allows",
    ),
    "unsafe-eval": (STRICT_TEMPLATE.replace("'strict-dynamic'", "'strict-dynamic' 'unsafe-eval'"), "allows"),
    "no script nonce": (
        STRICT_TEMPLATE.replace("script-src 'self' 'nonce-{nonce}'", "script-src 'self'"),
        "script-src",
    ),
    "no script-src": (
        STRICT_TEMPLATE.replace("script-src 'self' 'nonce-{nonce}' 'strict-dynamic'; ", ""),
        "script-src",
    ),
    "objects allowed": (STRICT_TEMPLATE.replace("object-src 'none'", "object-src 'self'"), "object-src"),
    "no base-uri": (STRICT_TEMPLATE.replace("base-uri 'none'; ", ""), "base-uri"),
    "any base-uri": (STRICT_TEMPLATE.replace("base-uri 'none'", "base-uri *"), "base-uri"),
    "framable": (
        STRICT_TEMPLATE.replace("frame-ancestors 'none'", "frame-ancestors 'self'"),
        "frame-ancestors",
    ),
}


def test_weak_frontend_templates_are_refused_on_the_frontend_service() -> None:
    for case, (template, fragment) in WEAK_TEMPLATES.items():
        stack = _frontend_stack({"PAP_WEB_CSP": template})
        reported = run_stack_rule(proxy.nginx_csp_strict, stack)
        assert len(reported) == 1, case
        message, urn = reported[0]
        assert fragment in message and "'pap-test-web'" in message and "Fix:" in message, (case, message)
        assert urn == stack[-1]["urn"], case  # the fix goes into the web service's env
        # Presence is nginx-security-headers' concern: a weak template is still a declared one.
        assert run_stack_rule(proxy.nginx_security_headers, stack, SETTINGS) == [], case


def test_template_problems_name_each_weakness() -> None:
    assert template_problems(STRICT_TEMPLATE) == []
    assert template_problems(STRICT_TEMPLATE.replace("base-uri 'none'", "base-uri 'self'")) == []
    assert len(template_problems("default-src *")) == 4  # nonce, object-src, base-uri, frame-ancestors
    assert template_problems(STRICT_TEMPLATE + "; script-src-attr 'unsafe-hashes'") == [
        "allows 'unsafe-hashes'"
    ]
