"""Rules called directly (no analyzer): the edge cases the recorded program does not exercise."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies.rules import containers, images, proxy, secrets, stack, tls
from policies.rules._props import (
    CONTAINER,
    IMAGE,
    PRIVATE_KEY,
    REMOTE_IMAGE,
    SELF_SIGNED_CERT,
    UNKNOWN,
    VOLUME,
    plain,
)
from tests.policies.support import run_resource_rule, run_stack_rule

WILDCARD = "0.0.0.0"  # noqa: S104 - the mistake under test
SEED = {"start": False, "mustRun": False, "networkMode": "none"}


def container_messages(rule: Any, config: dict[str, Any] | None = None, **props: Any) -> list[str]:
    return run_resource_rule(rule, CONTAINER, props, config)


def test_plain_unwraps_proxies_and_marks_unknowns() -> None:
    proxied = unknown_checking_proxy(
        {"user": UNKNOWN_STRING_VALUE, "ports": [{"ip": UNKNOWN_STRING_VALUE}], "n": 1}
    )
    assert plain(proxied) == {"user": UNKNOWN, "ports": [{"ip": UNKNOWN}], "n": 1}


@pytest.mark.parametrize(
    ("user", "fires"),
    [
        ("10001:0", False),
        ("app", False),
        ("root", True),
        ("0", True),
        ("0:0", True),
        ("", True),
        (None, True),
    ],
)
def test_non_root_user(user: str | None, fires: bool) -> None:
    props = {} if user is None else {"user": user}
    assert bool(container_messages(containers.container_non_root, **props)) is fires


def test_unknown_user_is_skipped() -> None:
    assert container_messages(containers.container_non_root, user=UNKNOWN_STRING_VALUE) == []


def test_capabilities_normalized_and_configurable() -> None:
    rule = containers.container_capabilities_dropped
    assert container_messages(rule, capabilities={"drops": ["all"], "adds": ["CAP_NET_BIND_SERVICE"]}) == []
    assert container_messages(rule, capabilities={"drops": ["ALL"], "adds": ["CHOWN"]})
    assert (
        container_messages(
            rule, {"allowedAdds": ["CHOWN"]}, capabilities={"drops": ["ALL"], "adds": ["CHOWN"]}
        )
        == []
    )


def test_restart_policy_one_shot_and_seed() -> None:
    rule = containers.container_restart_policy
    migrate = [{"label": "pap.role", "value": "migrate"}]
    assert container_messages(rule, restart="no", labels=migrate) == []
    assert container_messages(rule, restart="no")
    assert container_messages(rule, restart="on-failure", maxRetryCount=6)
    assert container_messages(rule, {"maxRetryCount": 10.0}, restart="on-failure", maxRetryCount=6) == []
    assert container_messages(rule, restart="no", **SEED) == []


def test_read_only_exemption_needs_all_three_seed_settings() -> None:
    rule = containers.container_read_only_rootfs
    assert container_messages(rule, readOnly=False, **SEED) == []
    assert container_messages(rule, readOnly=False, start=False, mustRun=False)
    assert container_messages(rule, readOnly=False, start=False, networkMode="none")


@pytest.mark.parametrize(
    ("ip", "fires"), [("127.0.0.1", False), ("10.0.0.5", False), (WILDCARD, True), ("::", True), ("", True)]
)
def test_port_addresses(ip: str, fires: bool) -> None:
    messages = container_messages(
        containers.container_ports_bound_to_interface, ports=[{"internal": 80, "ip": ip}]
    )
    assert bool(messages) is fires


def test_privileged_host_port_ignores_unpublished_external() -> None:
    rule = containers.container_no_privileged_host_ports
    assert container_messages(rule, ports=[{"internal": 80}]) == []
    assert container_messages(rule, ports=[{"internal": 8443, "external": 443, "ip": "127.0.0.1"}])


@pytest.mark.parametrize(
    ("image", "fires"),
    [
        ("sha256:" + "a" * 64, False),
        ("registry/pap@sha256:" + "b" * 64, False),
        ("pap:1.0", True),
        ("pap", True),
    ],
)
def test_image_reference(image: str, fires: bool) -> None:
    assert bool(container_messages(containers.container_image_immutable, image=image)) is fires


@pytest.mark.parametrize(
    ("source", "fires"),
    [
        ("/etc", True),
        ("/etc/nginx/", True),
        ("/", True),
        ("/usr/../etc", True),
        ("/etcetera", False),
        ("/srv", False),
    ],
)
def test_sensitive_bind_sources(source: str, fires: bool) -> None:
    mounts = [{"type": "bind", "source": source, "target": "/x"}]
    assert bool(container_messages(containers.host_path_not_sensitive, mounts=mounts)) is fires


def test_volume_resource_bind_options() -> None:
    rule = containers.host_path_not_sensitive
    assert run_resource_rule(rule, VOLUME, {"driverOpts": {"o": "bind,ro", "device": "/usr/lib"}})
    assert run_resource_rule(rule, VOLUME, {"driverOpts": {"o": "bind", "device": "/srv/data"}}) == []
    assert run_resource_rule(rule, VOLUME, {"driverOpts": {"type": "tmpfs", "device": "tmpfs"}}) == []


def test_docker_socket_through_host_volume() -> None:
    volumes = [{"hostPath": "/run/docker.sock", "containerPath": "/var/run/docker.sock"}]
    assert container_messages(containers.container_no_docker_socket, volumes=volumes)


def test_security_opts_forms() -> None:
    assert (
        container_messages(containers.container_no_new_privileges, securityOpts=["no-new-privileges"]) == []
    )
    assert container_messages(
        containers.container_no_new_privileges, securityOpts=["no-new-privileges:false"]
    )
    assert container_messages(containers.container_security_profiles, securityOpts=["label:disable"])


def test_pids_limit_is_documented_as_not_expressible() -> None:
    import pulumi_docker

    source = Path(pulumi_docker.__file__).with_name("container.py").read_text()
    assert "pids_limit" not in source  # if the provider grows it, this pack should enforce it
    assert "5.29" in " ".join(containers.NOT_EXPRESSIBLE)


@pytest.mark.parametrize(
    ("env", "fires"),
    [
        ("PAP_SECRET_KEY=abcdefabcdef", True),
        ("POSTGRES_PASSWORD=pw-value-1", True),
        ("API_TOKEN=token-value-2", True),
        ("PAP_SECRET_KEY_FILE=/run/pap/secrets/secret_key", False),
        ("PAP_SECRET_KEY=/run/pap/secrets/secret_key", False),
        ("PAP_SECRET_KEY=", False),
        ("PAP_DATABASE_URL=postgresql+psycopg://pap@database:5432/pap", False),
        ("PAP_REDIS_URL=redis://:s3cret@cache:6379/0", True),
        ("PAP_LOG_LEVEL=INFO", False),
    ],
)
def test_plaintext_secrets_in_envs(env: str, fires: bool) -> None:
    messages = container_messages(secrets.no_plaintext_secrets, envs=[env])
    assert bool(messages) is fires
    value = env.split("=", 1)[1]
    assert all(value not in message for message in messages if value)  # never echo the secret


def test_plaintext_secrets_in_image_build_args() -> None:
    assert run_resource_rule(secrets.no_plaintext_secrets, IMAGE, {"build": {"args": {"NPM_TOKEN": "x"}}})
    assert run_resource_rule(
        secrets.no_plaintext_secrets, REMOTE_IMAGE, {"build": {"buildArgs": {"TOKEN": "y"}}}
    )
    assert (
        run_resource_rule(secrets.no_plaintext_secrets, REMOTE_IMAGE, {"build": {"buildArgs": {"BASE": "z"}}})
        == []
    )


@pytest.mark.parametrize(
    ("mode", "fires"), [("0440", False), ("440", False), ("0640", False), ("0604", True), (None, True)]
)
def test_key_material_modes(mode: str | None, fires: bool) -> None:
    upload: dict[str, Any] = {"file": "/run/pap/tls/server.pem"}
    upload["contentBase64"] = base64.b64encode(b"-----BEGIN PRIVATE KEY-----\nxx\n").decode()
    if mode is not None:
        upload["permissions"] = mode
    assert bool(container_messages(secrets.key_material_owner_only, uploads=[upload])) is fires


def test_key_material_by_path_even_when_content_is_unknown() -> None:
    upload = {"file": "/run/pap/secrets/jwt", "content": UNKNOWN_STRING_VALUE, "permissions": "0444"}
    assert container_messages(secrets.key_material_owner_only, uploads=[upload])
    config = {"file": "/run/pap/nginx/nginx.conf", "content": "events {}", "permissions": "0444"}
    assert container_messages(secrets.key_material_owner_only, uploads=[config]) == []


@pytest.mark.parametrize(
    ("props", "profile", "fires"),
    [
        ({"algorithm": "ECDSA", "ecdsaCurve": "P256"}, "modern", False),
        ({"algorithm": "ECDSA", "ecdsaCurve": "P384"}, "intermediate", False),
        ({"algorithm": "ECDSA"}, "intermediate", True),  # the provider's default curve is P224
        ({"algorithm": "RSA"}, "intermediate", False),  # default 2048 bits
        ({"algorithm": "RSA", "rsaBits": 1024}, "intermediate", True),
        ({"algorithm": "RSA", "rsaBits": 4096}, "modern", True),
        ({"algorithm": "ED25519"}, "intermediate", True),
    ],
)
def test_key_strength(props: dict[str, Any], profile: str, fires: bool) -> None:
    messages = run_resource_rule(tls.tls_key_strength, PRIVATE_KEY, props, {"profile": profile})
    assert bool(messages) is fires


def test_certificate_lifetime_ca_and_float_config() -> None:
    rule = tls.tls_certificate_lifetime
    ca = {"isCaCertificate": True, "validityPeriodHours": 24 * 1000, "earlyRenewalHours": 720}
    assert (
        run_resource_rule(rule, SELF_SIGNED_CERT, ca, {"maxValidityDays": 90.0, "caMaxValidityDays": 1825.0})
        == []
    )
    leaf = {"validityPeriodHours": 24 * 91, "earlyRenewalHours": 720}
    assert run_resource_rule(rule, SELF_SIGNED_CERT, leaf, {"maxValidityDays": 90.0})
    assert run_resource_rule(
        rule, SELF_SIGNED_CERT, {"validityPeriodHours": 24 * 90}, {"maxValidityDays": 90.0}
    )


def test_dockerfile_parsing(tmp_path: Path) -> None:
    source = (
        "ARG BASE=debian:bookworm-slim\nARG UID=10001\n"
        "FROM --platform=linux/amd64 ${BASE} AS build\nRUN apt-get update \\\n && true\n"
        "FROM ${RUNTIME:-debian:12}\nCOPY --from=build /a /a\n# USER root\nUSER ${UID}:0\n"
    )
    parsed = images.parse_dockerfile(tmp_path / "Dockerfile", source, {"BASE": "debian:bookworm"})
    assert parsed.bases == ["debian:bookworm", "debian:12"]
    assert parsed.final_user == "10001:0"
    assert parsed.add_lines == []


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("debian:bookworm-slim", True),
        ("localhost:5000/debian", False),
        ("localhost:5000/debian:12", True),
        ("debian:latest", False),
        ("debian@sha256:" + "c" * 64, True),
        ("scratch", True),
        ("${UNSET}", False),
    ],
)
def test_base_image_pinning(image: str, pinned: bool) -> None:
    assert images._is_pinned(image) is pinned


def test_dockerfile_of_a_remote_image_is_found_in_its_context(tmp_path: Path) -> None:
    (tmp_path / "Containerfile").write_text("FROM debian:12\nADD x /x\nUSER 1:0\n")
    props = {"build": {"context": str(tmp_path), "dockerfile": "Containerfile"}}
    assert run_resource_rule(images.dockerfile_copy_not_add, REMOTE_IMAGE, props)
    assert run_resource_rule(images.dockerfile_non_root_user, REMOTE_IMAGE, props) == []
    unknown = {"build": {"context": UNKNOWN_STRING_VALUE}}
    assert run_resource_rule(images.dockerfile_readable, REMOTE_IMAGE, unknown) == []


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


def _proxy_props(server: str) -> dict[str, Any]:
    return {
        "uploads": [
            {"file": "/run/pap/nginx/nginx.conf", "content": NGINX},
            {"file": "/run/pap/nginx/conf.d/site.conf", "content": server},
        ]
    }


def test_headers_follow_includes_and_catch_the_inheritance_trap() -> None:
    props = _proxy_props(TLS_SERVER % {"headers": ALL_HEADERS})
    messages = run_resource_rule(proxy.nginx_security_headers, CONTAINER, props, {"hstsMinAge": 31536000})
    # The server and `location /` are complete; /static/ has its own add_header and so inherits nothing.
    assert len(messages) == 1
    assert "location /static/" in messages[0] and "inherits none" in messages[0]
    assert "x-frame-options missing" in messages[0]


def test_modern_profile_needs_no_ciphers_and_loopback_http_is_exempt() -> None:
    props = _proxy_props(TLS_SERVER % {"headers": ALL_HEADERS})
    assert run_resource_rule(proxy.nginx_tls_ciphers, CONTAINER, props, {"profile": "modern"}) == []
    assert run_resource_rule(proxy.nginx_tls_protocols, CONTAINER, props, {"profile": "modern"}) == []
    assert run_resource_rule(proxy.nginx_http_redirect_only, CONTAINER, props) == []
    assert run_resource_rule(proxy.nginx_tls_ciphers, CONTAINER, props, {"profile": "intermediate"})


def test_missing_ssl_protocols_fires() -> None:
    props = _proxy_props((TLS_SERVER % {"headers": ALL_HEADERS}).replace("ssl_protocols TLSv1.3;", ""))
    messages = run_resource_rule(proxy.nginx_tls_protocols, CONTAINER, props, {"profile": "intermediate"})
    assert messages and "TLSv1 and TLSv1.1" in messages[0]


def _container(name: str, role: str | None, **inputs: Any) -> dict[str, Any]:
    labels = [{"label": "pap.role", "value": role}] if role else []
    urn = f"urn:pulumi:test::pap::docker:index/container:Container::{name}"
    return {"urn": urn, "type": CONTAINER, "name": name, "inputs": {"labels": labels, **inputs}}


def test_data_tier_found_by_image_when_unlabelled() -> None:
    resources = [_container("pg", None, image="postgres:16", ports=[{"internal": 5432, "ip": "127.0.0.1"}])]
    reported = run_stack_rule(stack.data_tier_publishes_nothing, resources)
    assert [urn for _, urn in reported] == [resources[0]["urn"]]


def test_seeds_are_not_databases_and_backups_need_a_volume() -> None:
    seed = _container("db-seed", "database", **SEED)
    assert run_stack_rule(stack.database_backed_up, [seed]) == []
    database = _container("db", "database")
    files_only = _container(
        "backup", "backup", volumes=[{"containerPath": "/run/pap", "volumeName": "files"}]
    )
    assert run_stack_rule(stack.database_backed_up, [database, files_only])
    with_dumps = _container(
        "backup", "backup", mounts=[{"type": "volume", "target": "/backups", "source": "dumps"}]
    )
    assert run_stack_rule(stack.database_backed_up, [database, with_dumps]) == []


def test_two_proxies_publishing_is_not_a_single_ingress() -> None:
    port = [{"internal": 8443, "external": 8443, "ip": "127.0.0.1"}]
    resources = [_container("p1", "proxy", ports=port), _container("p2", "proxy", ports=port)]
    assert len(run_stack_rule(stack.single_ingress, resources)) == 2


def test_service_image_found_by_build_context() -> None:
    image = {
        "urn": "urn:pulumi:prod::pap::docker:index/remoteImage:RemoteImage::svc",
        "type": REMOTE_IMAGE,
        "name": "svc",
        "inputs": {"build": {"context": "/work/app/"}},
    }
    assert run_stack_rule(images.service_image_promoted, [image], {"buildsAllowed": False})
    assert run_stack_rule(images.service_image_promoted, [image], {"buildsAllowed": True}) == []
    assert run_stack_rule(images.service_image_promoted, [image], None) == []
