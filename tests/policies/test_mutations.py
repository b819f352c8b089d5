"""Each rule fires on a bad variant of a real recorded resource, with an actionable message; no other does.

Each case edits the plan recorded from the real program (dev, or prod where the rule is prod-only), runs it
through one analyzer server (Analyze per resource + AnalyzeStack, like `pulumi preview --policy-pack`) and
compares the set of policies that newly fire with exactly the expected set. Where one mistake legitimately
trips two rules, the case lists both and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from policies.analyzer_client import AnalyzerClient, Violation, load_stack_config
from tests.policies.support import (
    PlanEdit,
    add_resource,
    append_input,
    blocks,
    drop_input,
    edit_nginx,
    edited,
    evaluate,
    new_violations,
    on,
    remove_resource,
    resource,
    set_input,
)

BACKEND = "pap-dev-backend-1"
DATABASE = "pap-dev-db"
PROXY = "pap-dev-proxy"
PROXY_SEED = "pap-dev-proxy-seed"
BACKUP = "pap-dev-backup"
EDGE_NETWORK = "pap-dev-edge"
SECURITY_HEADER_DROPPED = "X-Frame-Options"
WILDCARD = "0.0.0.0"  # noqa: S104 - the mistake under test


# Stack plus policy config: each stack's own, and prod under Mozilla "modern" (supported, not deployed).
MODERN_CONFIG: dict[str, Any] = {
    **load_stack_config("prod"),
    **{
        name: {"profile": "modern"}
        for name in ("tls-key-strength", "nginx-tls-protocols", "nginx-tls-ciphers")
    },
}
SETTINGS: dict[str, tuple[str, dict[str, Any] | None]] = {
    "dev": ("dev", None),
    "prod": ("prod", None),
    "modern": ("prod", MODERN_CONFIG),
}


@dataclass(frozen=True)
class Mutation:
    id: str
    edits: tuple[PlanEdit, ...]
    fires: frozenset[str]
    setting: str = "dev"  # a key of SETTINGS
    why_several: str = ""  # required when `fires` has more than one policy


def case(
    case_id: str, fires: str | set[str], *edits: PlanEdit, setting: str = "dev", why: str = ""
) -> Mutation:
    return Mutation(case_id, edits, frozenset({fires} if isinstance(fires, str) else fires), setting, why)


def _set_label(key: str, value: str) -> Any:
    def apply(inputs: dict[str, Any]) -> None:
        inputs["labels"] = [label for label in inputs["labels"] if label["label"] != key]
        inputs["labels"].append({"label": key, "value": value})

    return apply


def _port(ip: str, external: int, internal: int = 8000) -> dict[str, Any]:
    return {"internal": internal, "external": external, "ip": ip}


def _on_proxy_ports(edit: Any) -> PlanEdit:
    return on(PROXY, lambda inputs: [edit(port) for port in inputs["ports"]])


def _drop_header_in_api_location(payload: list[dict[str, Any]]) -> None:
    (location,) = blocks(payload, "location", "/api/v1/")
    location["block"] = [
        node
        for node in location["block"]
        if not (node["directive"] == "add_header" and node["args"][0] == SECURITY_HEADER_DROPPED)
    ]


def _drop_always_in_server(payload: list[dict[str, Any]]) -> None:
    server = next(
        block for block in _servers(payload) if any(d["args"][1:2] == ["ssl"] for d in _listens(block))
    )
    for node in server["block"]:
        if node["directive"] == "add_header" and node["args"][0] == "Strict-Transport-Security":
            node["args"] = node["args"][:2]


def _servers(payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """server blocks (upstream's `server` lines have no block)."""
    return [block for block in blocks(payload, "server") if "block" in block]


def _listens(server: dict[str, Any]) -> list[dict[str, Any]]:
    return [node for node in server["block"] if node["directive"] == "listen"]


def _set_directive(name: str, *args: str) -> Any:
    def apply(payload: list[dict[str, Any]]) -> None:
        nodes = [
            node
            for block in blocks(payload, "http")
            for node in _walk(block["block"])
            if node["directive"] == name
        ]
        assert nodes, f"the recorded nginx.conf has no {name}"
        for node in nodes:
            node["args"] = list(args)

    return apply


def _walk(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for node in nodes:
        found.append(node)
        found.extend(_walk(node.get("block", [])))
    return found


def _csp_unsafe_inline(payload: list[dict[str, Any]]) -> None:
    for node in _walk(payload):
        if node["directive"] == "add_header" and node["args"][0] == "Content-Security-Policy":
            node["args"][1] = node["args"][1].replace(
                "default-src 'self'", "default-src 'self' 'unsafe-inline'"
            )


def _plain_http_served(payload: list[dict[str, Any]]) -> None:
    server = next(
        block for block in _servers(payload) if any(d["directive"] == "return" for d in block["block"])
    )
    server["block"] = [node for node in server["block"] if node["directive"] != "return"]
    server["block"].append(
        {
            "directive": "location",
            "args": ["/"],
            "block": [{"directive": "proxy_pass", "args": ["http://backend"]}],
        }
    )


def _tls_upload_mode(mode: str) -> Any:
    def apply(inputs: dict[str, Any]) -> None:
        (key,) = [upload for upload in inputs["uploads"] if "PRIVATE KEY" in (upload.get("content") or "")]
        key["permissions"] = mode

    return apply


def _without_nginx_conf(inputs: dict[str, Any]) -> None:
    inputs["uploads"] = [upload for upload in inputs["uploads"] if not upload["file"].endswith("nginx.conf")]


def _broken_nginx_conf(inputs: dict[str, Any]) -> None:
    (conf,) = [upload for upload in inputs["uploads"] if upload["file"].endswith("nginx.conf")]
    conf["content"] = conf["content"] + "\nhttp {\n"


def _backup_without_volume(inputs: dict[str, Any]) -> None:
    inputs["volumes"] = [volume for volume in inputs["volumes"] if volume["containerPath"] == "/run/pap"]


def _service_image_built_in_prod(dev_plan: dict[str, Any]) -> PlanEdit:
    """Copy dev's service build into prod and make the prod backend depend on it."""
    built = dict(resource(dev_plan, "images-service"))
    built["urn"] = built["urn"].replace("urn:pulumi:dev::", "urn:pulumi:prod::")

    def apply(plan: dict[str, Any]) -> None:
        add_resource(built)(plan)
        resource(plan, "pap-prod-backend-1")["dependencies"].append(built["urn"])

    return apply


MUTATIONS = [
    case("user-removed", "container-non-root", on(BACKEND, drop_input("user"))),
    case("user-root", "container-non-root", on(BACKEND, set_input("user", "0:0"))),
    case("privileged", "container-not-privileged", on(BACKEND, set_input("privileged", True))),
    case("caps-not-dropped", "container-capabilities-dropped", on(BACKEND, set_input("capabilities", {}))),
    case(
        "cap-sys-admin",
        "container-capabilities-dropped",
        on(BACKEND, set_input("capabilities", {"drops": ["ALL"], "adds": ["SYS_ADMIN"]})),
    ),
    case("new-privileges", "container-no-new-privileges", on(BACKEND, set_input("securityOpts", []))),
    case(
        "seccomp-unconfined",
        "container-security-profiles",
        on(BACKEND, append_input("securityOpts", "seccomp=unconfined")),
    ),
    case(
        "apparmor-unconfined",
        "container-security-profiles",
        on(BACKEND, append_input("securityOpts", "apparmor:unconfined")),
    ),
    case("no-memory-limit", "container-memory-limited", on(BACKEND, drop_input("memory"))),
    case("unlimited-swap", "container-memory-limited", on(BACKEND, set_input("memorySwap", -1))),
    case("no-cpu-limit", "container-cpu-limited", on(BACKEND, drop_input("cpus"))),
    case("writable-rootfs", "container-read-only-rootfs", on(BACKEND, set_input("readOnly", False))),
    case("no-healthcheck", "container-healthcheck", on(BACKEND, drop_input("healthcheck"))),
    case("restart-always", "container-restart-policy", on(BACKEND, set_input("restart", "always"))),
    case("restart-unbounded", "container-restart-policy", on(BACKEND, set_input("maxRetryCount", 0))),
    case("host-network", "container-no-host-network", on(BACKEND, set_input("networkMode", "host"))),
    case("host-pid", "container-no-host-pid", on(BACKEND, set_input("pidMode", "host"))),
    case("host-ipc", "container-no-host-ipc", on(BACKEND, set_input("ipcMode", "host"))),
    case("host-userns", "container-no-host-userns", on(BACKEND, set_input("usernsMode", "host"))),
    case("default-bridge", "container-not-default-bridge", on(BACKEND, set_input("networksAdvanced", []))),
    case(
        "host-device",
        "container-no-devices",
        on(BACKEND, set_input("devices", [{"hostPath": "/dev/kmsg", "containerPath": "/dev/kmsg"}])),
    ),
    case("gpus", "container-no-devices", on(BACKEND, set_input("gpus", "all"))),
    case(
        "bind-etc",
        "host-path-not-sensitive",
        on(BACKEND, append_input("mounts", {"type": "bind", "source": "/etc", "target": "/host-etc"})),
    ),
    case(
        "volume-binds-etc",
        "host-path-not-sensitive",
        on("database-data", set_input("driverOpts", {"type": "none", "o": "bind", "device": "/etc"})),
    ),
    case(
        "docker-socket",
        "container-no-docker-socket",
        on(
            BACKEND,
            append_input(
                "mounts", {"type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock"}
            ),
        ),
    ),
    case(
        "shared-propagation",
        "container-mount-propagation",
        on(
            BACKEND,
            append_input(
                "mounts",
                {
                    "type": "bind",
                    "source": "/srv/pap",
                    "target": "/srv",
                    "bindOptions": {"propagation": "rshared"},
                },
            ),
        ),
    ),
    case("cgroup-parent", "container-cgroup-parent", on(BACKEND, set_input("cgroupParent", "/custom"))),
    case("publish-all", "container-no-publish-all-ports", on(PROXY, set_input("publishAllPorts", True))),
    case(
        "port-443",
        "container-no-privileged-host-ports",
        _on_proxy_ports(lambda port: port.update(external=443)),
    ),
    case(
        "port-wildcard",
        "container-ports-bound-to-interface",
        _on_proxy_ports(lambda port: port.update(ip=WILDCARD)),
    ),
    case("port-no-ip", "container-ports-bound-to-interface", _on_proxy_ports(lambda port: port.pop("ip"))),
    case("image-tag", "container-image-immutable", on(BACKEND, set_input("image", "pap-service:latest"))),
    case(
        "password-in-envs",
        "no-plaintext-secrets",
        on(BACKEND, append_input("envs", "PAP_DATABASE_PASSWORD=hunter2-hunter2")),
    ),
    case(
        "password-in-url",
        "no-plaintext-secrets",
        on(BACKEND, append_input("envs", "PAP_SENTRY_DSN=https://user:pw@sentry.example/1")),
    ),
    case(
        "token-build-arg",
        "no-plaintext-secrets",
        on("images-proxy", lambda inputs: inputs["build"]["buildArgs"].update(API_TOKEN="abc123")),
    ),
    case("key-world-readable", "key-material-owner-only", on(PROXY_SEED, _tls_upload_mode("0444"))),
    case("key-default-mode", "key-material-owner-only", on(PROXY_SEED, _tls_upload_mode("0644"))),
    case(
        "database-on-edge",
        "data-tier-internal-networks-only",
        on(DATABASE, append_input("networksAdvanced", {"name": EDGE_NETWORK, "aliases": []})),
    ),
    case(
        "cache-on-unknown-network",
        "data-tier-internal-networks-only",
        on(
            "pap-dev-cache",
            set_input("networksAdvanced", [{"name": "bridge-of-someone-else", "aliases": []}]),
        ),
    ),
    case(
        "database-port-published",
        {"data-tier-publishes-nothing", "single-ingress"},
        on(DATABASE, set_input("ports", [_port("127.0.0.1", 15432, 5432)])),
        why="a published database port is also a second ingress",
    ),
    case("backend-publishes", "single-ingress", on(BACKEND, set_input("ports", [_port("127.0.0.1", 18000)]))),
    case("no-ingress", "single-ingress", on(PROXY, set_input("ports", []))),
    case("no-backup-container", "database-backed-up", remove_resource(BACKUP)),
    case("backup-without-volume", "database-backed-up", on(BACKUP, _backup_without_volume)),
    case(
        "rsa-1024",
        "tls-key-strength",
        on("tls-server-key", set_input("algorithm", "RSA")),
        on("tls-server-key", set_input("rsaBits", 1024)),
    ),
    case("ecdsa-p224", "tls-key-strength", on("tls-server-key", set_input("ecdsaCurve", "P224"))),
    case(
        "rsa-in-modern-prod",
        "tls-key-strength",
        on("tls-server-key", set_input("algorithm", "RSA")),
        on("tls-server-key", set_input("rsaBits", 4096)),
        setting="modern",
    ),
    case(
        "cert-400-days",
        "tls-certificate-lifetime",
        on("tls-server", set_input("validityPeriodHours", 400 * 24)),
    ),
    case(
        "cert-no-early-renewal",
        "tls-certificate-lifetime",
        on("tls-server", set_input("earlyRenewalHours", 0)),
    ),
    case(
        "cert-120-days-prod",
        "tls-certificate-lifetime",
        on("tls-server", set_input("validityPeriodHours", 120 * 24)),
        setting="prod",
    ),
    case(
        "tls-1.1",
        "nginx-tls-protocols",
        on(PROXY_SEED, edit_nginx(_set_directive("ssl_protocols", "TLSv1.1", "TLSv1.2", "TLSv1.3"))),
    ),
    case(
        "weak-cipher",
        "nginx-tls-ciphers",
        on(PROXY_SEED, edit_nginx(_set_directive("ssl_ciphers", "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA"))),
    ),
    case(
        "server-tokens-on",
        "nginx-server-tokens-off",
        on(PROXY_SEED, edit_nginx(_set_directive("server_tokens", "on"))),
    ),
    case(
        "header-dropped-in-location",
        "nginx-security-headers",
        on(PROXY_SEED, edit_nginx(_drop_header_in_api_location)),
    ),
    case("hsts-without-always", "nginx-security-headers", on(PROXY_SEED, edit_nginx(_drop_always_in_server))),
    case("csp-unsafe-inline", "nginx-csp-strict", on(PROXY_SEED, edit_nginx(_csp_unsafe_inline))),
    case("plain-http-served", "nginx-http-redirect-only", on(PROXY_SEED, edit_nginx(_plain_http_served))),
    case("no-nginx-conf", "nginx-config-present", on(PROXY_SEED, _without_nginx_conf)),
    case("broken-nginx-conf", "nginx-config-present", on(PROXY_SEED, _broken_nginx_conf)),
]


def _plan(request: pytest.FixtureRequest, setting: str) -> dict[str, Any]:
    stack, _ = SETTINGS[setting]
    plan: dict[str, Any] = request.getfixturevalue(f"{stack}_plan")
    return plan


def _evaluate(analyzer: AnalyzerClient, plan: dict[str, Any], setting: str) -> list[Violation]:
    stack, config = SETTINGS[setting]
    return evaluate(analyzer, plan, stack, config)


@pytest.fixture(scope="module")
def baselines(analyzer: AnalyzerClient, request: pytest.FixtureRequest) -> dict[str, list[Violation]]:
    return {setting: _evaluate(analyzer, _plan(request, setting), setting) for setting in SETTINGS}


def _assert_fires_exactly(
    analyzer: AnalyzerClient,
    plan: dict[str, Any],
    setting: str,
    baselines: dict[str, list[Violation]],
    expected: frozenset[str],
) -> list[Violation]:
    fired = new_violations(_evaluate(analyzer, plan, setting), baselines[setting])
    assert {violation.policy for violation in fired} == expected, [f"{v.policy}: {v.message}" for v in fired]
    for violation in fired:
        assert "Fix:" in violation.message, violation.message
        assert violation.urn, f"{violation.policy} reported without a resource"
    return fired


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[mutation.id for mutation in MUTATIONS])
def test_mutation_fires_exactly_its_rule(
    mutation: Mutation,
    analyzer: AnalyzerClient,
    baselines: dict[str, list[Violation]],
    request: pytest.FixtureRequest,
) -> None:
    assert len(mutation.fires) == 1 or mutation.why_several, "say why one mistake trips several rules"
    plan = edited(_plan(request, mutation.setting), *mutation.edits)
    fired = _assert_fires_exactly(analyzer, plan, mutation.setting, baselines, mutation.fires)
    assert all(violation.level == "mandatory" for violation in fired)


def test_service_image_built_in_prod_fires(
    analyzer: AnalyzerClient,
    dev_plan: dict[str, Any],
    prod_plan: dict[str, Any],
    baselines: dict[str, list[Violation]],
) -> None:
    plan = edited(prod_plan, _service_image_built_in_prod(dev_plan))
    _assert_fires_exactly(analyzer, plan, "prod", baselines, frozenset({"service-image-promoted"}))


def test_modern_profile_refuses_the_recorded_intermediate_proxy(
    baselines: dict[str, list[Violation]],
) -> None:
    """The real prod config offers TLSv1.2: under "modern" exactly the protocol rule objects, on the proxy."""
    fired = new_violations(baselines["modern"], baselines["prod"])
    assert {(v.policy, v.name) for v in fired} == {("nginx-tls-protocols", "pap-prod-proxy-seed")}
    assert "TLSv1.2" in fired[0].message


GOOD_DOCKERFILE = """\
# syntax=docker/dockerfile:1
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE} AS build
RUN echo build
FROM ${BASE_IMAGE}
COPY --from=build /etc/hostname /srv/built
COPY entrypoint.sh /usr/local/bin/
USER 10030:0
"""
DOCKERFILE_MUTATIONS = {
    "root-user": ("USER 10030:0", "USER root", "dockerfile-non-root-user"),
    "no-user": ("USER 10030:0", "", "dockerfile-non-root-user"),
    "add-instead-of-copy": ("COPY entrypoint.sh", "ADD entrypoint.sh", "dockerfile-copy-not-add"),
    "latest-default": ("=debian:bookworm-slim", "=debian:latest", "dockerfile-base-image-pinned"),
    "untagged-base": ("FROM ${BASE_IMAGE}\nCOPY", "FROM debian\nCOPY", "dockerfile-base-image-pinned"),
}


def _with_dockerfile(directory: Path, content: str) -> PlanEdit:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Dockerfile").write_text(content)

    def apply(inputs: dict[str, Any]) -> None:
        inputs["build"]["context"] = str(directory)
        inputs["build"]["buildArgs"].pop("BASE_IMAGE", None)  # the ARG default decides

    return on("images-proxy", apply)


def test_good_dockerfile_passes(
    tmp_path: Path, analyzer: AnalyzerClient, dev_plan: dict[str, Any], baselines: dict[str, list[Violation]]
) -> None:
    plan = edited(dev_plan, _with_dockerfile(tmp_path, GOOD_DOCKERFILE))
    _assert_fires_exactly(analyzer, plan, "dev", baselines, frozenset())


@pytest.mark.parametrize("variant", sorted(DOCKERFILE_MUTATIONS))
def test_dockerfile_mutation_fires_exactly_its_rule(
    variant: str,
    tmp_path: Path,
    analyzer: AnalyzerClient,
    dev_plan: dict[str, Any],
    baselines: dict[str, list[Violation]],
) -> None:
    old, new, rule = DOCKERFILE_MUTATIONS[variant]
    assert old in GOOD_DOCKERFILE
    plan = edited(dev_plan, _with_dockerfile(tmp_path, GOOD_DOCKERFILE.replace(old, new)))
    _assert_fires_exactly(analyzer, plan, "dev", baselines, frozenset({rule}))


def test_unreadable_dockerfile_is_advisory_not_a_crash(
    analyzer: AnalyzerClient, dev_plan: dict[str, Any], baselines: dict[str, list[Violation]]
) -> None:
    plan = edited(
        dev_plan, on("images-proxy", lambda inputs: inputs["build"].update(context="/nonexistent/pap"))
    )
    fired = new_violations(evaluate(analyzer, plan, "dev"), baselines["dev"])
    assert [(v.policy, v.level) for v in fired] == [("dockerfile-readable", "advisory")]
    assert "/nonexistent/pap/Dockerfile" in fired[0].message
