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
from tests.policies.nginx_edits import (
    csp_unsafe_inline,
    drop_always_in_server,
    drop_header_in_api_location,
    drop_header_in_frontend_location,
    hide_csp_in_frontend_location,
    plain_http_served,
    set_directive,
)
from tests.policies.support import (
    InputsEdit,
    PlanEdit,
    add_resource,
    append_input,
    decode,
    drop_input,
    edit_nginx,
    edited,
    encode,
    evaluate,
    new_violations,
    on,
    remove_resource,
    resource,
    set_input,
    spec,
)

BACKEND = "pap-dev-backend"
WEB = "pap-dev-web"
DATABASE = "pap-dev-db"
CACHE = "pap-dev-cache"
BACKUP = "pap-dev-backup"  # pgBackRest's repository 1 (the database's node)
OFFSITE = "pap-dev-backup-offsite"  # repository 2 (another node, its own volume and network)
# The docker.ServiceConfig each pgBackRest host mounts as /run/pap/pgbackrest.conf.
DATABASE_PGBACKREST = "pap-dev-pgbackrest-database"
BACKUP_PGBACKREST = "pap-dev-pgbackrest-backup"
OFFSITE_PGBACKREST = "pap-dev-pgbackrest-backup-offsite"
MIGRATE = "pap-dev-migrate"
PROXY = "pap-dev-proxy"
NGINX_CONF = "pap-dev-nginx-conf"  # the docker.ServiceConfig the proxy mounts as nginx.conf
TLS_CERT_CONFIG = "pap-dev-tls-cert"
TLS_KEY_SECRET = "pap-dev-tls-key"
DATABASE_VOLUME = "pap-dev-db-data"
BACKUP_VOLUME = "pap-dev-backups"
DATA_NETWORK = "pap-dev-data"
EDGE_NETWORK = "pap-dev-edge"
EGRESS_NETWORK = "pap-dev-egress"  # the off-host repository's way out to S3 (the s3 setting only)
LIMITS = "taskSpec.resources.limits"
RESERVATION = "taskSpec.resources.reservation"


# Stack plus policy config: each stack's own, and prod under Mozilla "modern" (supported, not deployed).
MODERN_CONFIG: dict[str, Any] = {
    **load_stack_config("prod"),
    **{
        name: {"profile": "modern"}
        for name in ("tls-key-strength", "nginx-tls-protocols", "nginx-tls-ciphers")
    },
}
# Setting -> (the recorded plan's fixture, its stack, the policy config: None for the stack's own).
SETTINGS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "dev": ("dev_plan", "dev", None),
    "prod": ("prod_plan", "prod", None),
    "modern": ("prod_plan", "prod", MODERN_CONFIG),
    "s3": ("s3_plan", "dev", None),  # dev with backup.offsite.type s3 (conftest.py)
}


@dataclass(frozen=True)
class Mutation:
    id: str
    edits: tuple[PlanEdit, ...]
    fires: frozenset[str]
    setting: str = "dev"  # a key of SETTINGS
    why_several: str = ""  # required when `fires` has more than one policy
    service_edit: InputsEdit | None = None  # a backend case: the edit, to make of any other service too


def case(
    case_id: str, fires: str | set[str], *edits: PlanEdit, setting: str = "dev", why: str = ""
) -> Mutation:
    return Mutation(case_id, edits, frozenset({fires} if isinstance(fires, str) else fires), setting, why)


def backend_case(case_id: str, fires: str, edit: InputsEdit) -> Mutation:
    """A bad variant of the backend service that is a bad variant of any application service."""
    return Mutation(case_id, (on(BACKEND, edit),), frozenset({fires}), service_edit=edit)


OFF_THE_APP_NETWORK = (
    "the frontend off the app network is no upstream of nginx's `location /` any more, so no service's CSP "
    "covers that location"
)
# What the same mistake also trips on the web service, and why.
ALSO_ON_WEB = {
    "no-networks": ("nginx-security-headers", OFF_THE_APP_NETWORK),
    "default-bridge": ("nginx-security-headers", OFF_THE_APP_NETWORK),
}


def on_web(mutation: Mutation) -> Mutation:
    """The same mistake made on the web frontend's service: the service rules must apply to it too."""
    assert mutation.service_edit is not None
    also, why = ALSO_ON_WEB.get(mutation.id, (None, ""))
    fires = mutation.fires | {also} if also else mutation.fires
    edits = (on(WEB, mutation.service_edit),)
    return Mutation(f"web-{mutation.id}", edits, fires, why_several=why, service_edit=mutation.service_edit)


def _host_port(target: int, published: int) -> dict[str, Any]:
    return {"protocol": "tcp", "targetPort": target, "publishedPort": published, "publishMode": "host"}


def _on_proxy_ports(edit: Any) -> PlanEdit:
    return on(PROXY, lambda inputs: [edit(port) for port in inputs["endpointSpec"]["ports"]])


def _first_secret(edit: Any) -> PlanEdit:
    return on(BACKEND, lambda inputs: edit(inputs["taskSpec"]["containerSpec"]["secrets"][0]))


def _unmount_secret(file_name: str) -> Any:
    def apply(inputs: dict[str, Any]) -> None:
        container = inputs["taskSpec"]["containerSpec"]
        kept = [mount for mount in container["secrets"] if mount["fileName"] != file_name]
        assert len(kept) == len(container["secrets"]) - 1, f"no secret mounted at {file_name}"
        container["secrets"] = kept

    return apply


def _without_volume_mounts(inputs: dict[str, Any]) -> None:
    container = inputs["taskSpec"]["containerSpec"]
    container["mounts"] = [mount for mount in container["mounts"] if mount["type"] != "volume"]


def _backup_into(volume: str) -> Any:
    def apply(inputs: dict[str, Any]) -> None:
        (mount,) = [m for m in inputs["taskSpec"]["containerSpec"]["mounts"] if m["type"] == "volume"]
        mount["source"] = volume

    return apply


def _server_setting(name: str, value: str | None) -> InputsEdit:
    """The database's `-c name=value` argument set to `value` (None: removed)."""

    def apply(inputs: dict[str, Any]) -> None:
        args = inputs["taskSpec"]["containerSpec"]["args"]
        (index,) = [i for i, arg in enumerate(args) if arg.startswith(f"{name}=") and args[i - 1] == "-c"]
        args[index - 1 : index + 1] = [] if value is None else ["-c", f"{name}={value}"]

    return apply


def _config_lines(edit: Any) -> InputsEdit:
    """A ServiceConfig's text (base64 `data`) rewritten line by line by `edit` (a list of lines in, out)."""

    def apply(inputs: dict[str, Any]) -> None:
        lines = decode(inputs["data"]).splitlines()
        edited_lines = edit(lines)
        assert edited_lines != lines, "the edit changed nothing"
        inputs["data"] = encode("\n".join(edited_lines) + "\n")

    return apply


def _without_lines(prefix: str) -> InputsEdit:
    return _config_lines(lambda lines: [line for line in lines if not line.startswith(prefix)])


def _replace_line(old: str, new: str) -> InputsEdit:
    return _config_lines(lambda lines: [new if line == old else line for line in lines])


def _with_line(after: str, line: str) -> InputsEdit:
    return _config_lines(
        lambda lines: [new for old in lines for new in ([old, line] if old == after else [old])]
    )


def _network_like_edge(name: str) -> PlanEdit:
    """Another non-internal docker.Network of the stack, declared like the edge network, named `name`."""

    def apply(plan: dict[str, Any]) -> None:
        edge = resource(plan, "networks-edge")
        logical = f"networks-{name.removeprefix('pap-dev-')}"
        network = {
            **edge,
            "urn": edge["urn"].removesuffix("::networks-edge") + f"::{logical}",
            "name": logical,
            "inputs": {**edge["inputs"], "name": name},
        }
        assert network["inputs"]["internal"] is False
        add_resource(network)(plan)

    return apply


def _joins(network: str) -> InputsEdit:
    return append_input("taskSpec.networksAdvanceds", {"name": network, "aliases": []})


def _key_as_config(plan: dict[str, Any]) -> None:
    """The TLS key's content shipped in the certificate's ServiceConfig (configs are not encrypted)."""
    key = decode(resource(plan, TLS_KEY_SECRET)["inputs"]["data"])
    cert = resource(plan, TLS_CERT_CONFIG)["inputs"]
    cert["data"] = encode(decode(cert["data"]) + key)


def _standalone_container(plan: dict[str, Any]) -> None:
    """The backend's image run once more as a plain docker.Container (an ad-hoc task outside Swarm)."""
    backend = resource(plan, BACKEND)
    container = backend["inputs"]["taskSpec"]["containerSpec"]
    adhoc = f"{BACKEND}-adhoc"
    add_resource(
        {
            "urn": backend["urn"].replace(
                f"docker:index/service:Service::{BACKEND}", f"docker:index/container:Container::{adhoc}"
            ),
            "type": "docker:index/container:Container",
            "name": adhoc,
            "parent": backend["parent"],
            "dependencies": [],
            "inputs": {"name": adhoc, "image": container["image"], "user": container["user"]},
        }
    )(plan)


def _without_nginx_conf(inputs: dict[str, Any]) -> None:
    container = inputs["taskSpec"]["containerSpec"]
    container["configs"] = [c for c in container["configs"] if not c["fileName"].endswith("nginx.conf")]


def _broken_nginx_conf(inputs: dict[str, Any]) -> None:
    inputs["data"] = encode(decode(inputs["data"]) + "\nhttp {\n")


def _web_csp(edit: Any) -> InputsEdit:
    """The web service's PAP_WEB_CSP template rewritten by `edit`."""

    def apply(inputs: dict[str, Any]) -> None:
        env = inputs["taskSpec"]["containerSpec"]["env"]
        env["PAP_WEB_CSP"] = edit(env["PAP_WEB_CSP"])

    return apply


def _app_image_built_in_prod(dev_plan: dict[str, Any], image: str, role_service: str) -> PlanEdit:
    """Copy one of dev's application image builds into prod and make a prod service depend on it."""
    built = dict(resource(dev_plan, image))
    built["urn"] = built["urn"].replace("urn:pulumi:dev::", "urn:pulumi:prod::")

    def apply(plan: dict[str, Any]) -> None:
        add_resource(built)(plan)
        resource(plan, role_service)["dependencies"].append(built["urn"])

    return apply


ROOT_CANNOT_READ = (
    "a root task cannot read secrets owned by the service UID either: capDrops ALL removed DAC_OVERRIDE"
)
BASE_MUTATIONS = [
    # service_runtime
    backend_case("user-removed", "service-non-root", drop_input(spec("user"))),
    case(
        "user-root",
        {"service-non-root", "secret-files-owner-only"},
        on(BACKEND, set_input(spec("user"), "0:0")),
        why=ROOT_CANNOT_READ,
    ),
    backend_case("user-by-name", "service-non-root", set_input(spec("user"), "app:0")),
    backend_case("caps-not-dropped", "service-capabilities-dropped", set_input(spec("capDrops"), [])),
    backend_case("cap-sys-admin", "service-capabilities-dropped", set_input(spec("capAdds"), ["SYS_ADMIN"])),
    backend_case("writable-rootfs", "service-read-only-rootfs", set_input(spec("readOnly"), False)),
    backend_case("no-memory-limit", "service-memory-limited", drop_input(f"{LIMITS}.memoryBytes")),
    backend_case("no-memory-reservation", "service-memory-limited", drop_input(f"{RESERVATION}.memoryBytes")),
    backend_case("no-cpu-limit", "service-cpu-limited", drop_input(f"{LIMITS}.nanoCpus")),
    backend_case(
        "cpu-reservation-above-limit",
        "service-cpu-limited",
        set_input(f"{RESERVATION}.nanoCpus", 4_000_000_000),
    ),
    backend_case(
        "reserves-gpu",
        "service-no-devices",
        set_input(f"{RESERVATION}.genericResources", {"discreteResourcesSpecs": ["GPU=1"]}),
    ),
    backend_case("no-healthcheck", "service-healthcheck", drop_input(spec("healthcheck"))),
    backend_case("healthcheck-none", "service-healthcheck", set_input(spec("healthcheck.tests"), ["NONE"])),
    backend_case(
        "restart-any", "service-restart-policy", set_input("taskSpec.restartPolicy.condition", "any")
    ),
    backend_case(
        "restart-unbounded", "service-restart-policy", set_input("taskSpec.restartPolicy.maxAttempts", 0)
    ),
    backend_case(
        "selinux-disabled",
        "service-selinux-not-disabled",
        set_input(spec("privileges"), {"seLinuxContext": {"disable": True}}),
    ),
    backend_case("image-tag", "service-image-immutable", set_input(spec("image"), "pap-service:latest")),
    # service_mounts
    backend_case(
        "bind-etc",
        "host-path-not-sensitive",
        append_input(spec("mounts"), {"type": "bind", "source": "/etc", "target": "/host-etc"}),
    ),
    case(
        "volume-binds-etc",
        "host-path-not-sensitive",
        on("database-data", set_input("driverOpts", {"type": "none", "o": "bind", "device": "/etc"})),
    ),
    case(
        "mount-options-bind-etc",
        "host-path-not-sensitive",
        on(
            DATABASE,
            append_input(
                spec("mounts"),
                {
                    "type": "volume",
                    "source": "host-etc",
                    "target": "/host-etc",
                    "volumeOptions": {"driverOptions": {"type": "none", "o": "bind", "device": "/etc"}},
                },
            ),
        ),
    ),
    backend_case(
        "docker-socket",
        "service-no-docker-socket",
        append_input(
            spec("mounts"),
            {"type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock"},
        ),
    ),
    backend_case(
        "shared-propagation",
        "service-mount-propagation",
        append_input(
            spec("mounts"),
            {
                "type": "bind",
                "source": "/srv/pap",
                "target": "/srv",
                "bindOptions": {"propagation": "rshared"},
            },
        ),
    ),
    # service_network
    backend_case(
        "host-network",
        "service-no-host-network",
        append_input("taskSpec.networksAdvanceds", {"name": "host", "aliases": []}),
    ),
    backend_case("no-networks", "service-not-default-bridge", set_input("taskSpec.networksAdvanceds", [])),
    backend_case(
        "default-bridge",
        "service-not-default-bridge",
        set_input("taskSpec.networksAdvanceds", [{"name": "bridge", "aliases": []}]),
    ),
    case(
        "port-443",
        "service-no-privileged-host-ports",
        _on_proxy_ports(lambda port: port.update(publishedPort=443) if port["targetPort"] == 8443 else None),
    ),
    case(
        "port-ingress-mode",
        "service-ports-host-mode",
        _on_proxy_ports(lambda port: port.update(publishMode="ingress")),
    ),
    case("port-mode-unset", "service-ports-host-mode", _on_proxy_ports(lambda port: port.pop("publishMode"))),
    case(
        "database-on-edge",
        "data-tier-internal-networks-only",
        on(DATABASE, append_input("taskSpec.networksAdvanceds", {"name": EDGE_NETWORK, "aliases": []})),
    ),
    case(
        "cache-on-unknown-network",
        "data-tier-internal-networks-only",
        on(
            CACHE,
            set_input("taskSpec.networksAdvanceds", [{"name": "overlay-of-someone-else", "aliases": []}]),
        ),
    ),
    case(
        "database-port-published",
        {"data-tier-publishes-nothing", "single-ingress"},
        on(DATABASE, set_input("endpointSpec.ports", [_host_port(5432, 15432)])),
        why="a published database port is also a second ingress",
    ),
    case(
        "migrate-publishes",
        "single-ingress",
        on(MIGRATE, set_input("endpointSpec.ports", [_host_port(8000, 18000)])),
    ),
    case("no-ingress", "single-ingress", on(PROXY, set_input("endpointSpec.ports", []))),
    # service_rollout
    backend_case(
        "update-pauses", "service-update-rollback", set_input("updateConfig.failureAction", "pause")
    ),
    case("database-no-update-config", "service-update-rollback", on(DATABASE, drop_input("updateConfig"))),
    backend_case(
        "backend-stop-first", "stateless-service-start-first", set_input("updateConfig.order", "stop-first")
    ),
    backend_case("backend-no-rollback-config", "stateless-service-start-first", drop_input("rollbackConfig")),
    case(
        "database-start-first",
        "exclusive-service-stop-first",
        on(DATABASE, set_input("updateConfig.order", "start-first")),
    ),
    case(
        "proxy-rollback-start-first",
        "exclusive-service-stop-first",
        on(PROXY, set_input("rollbackConfig.order", "start-first")),
    ),
    case(
        "one-backend-in-prod",
        "stateless-service-replicated",
        on("pap-prod-backend", set_input("mode.replicated.replicas", 1)),
        setting="prod",
    ),
    case("database-unpinned", "data-service-pinned", on(DATABASE, drop_input("taskSpec.placement"))),
    case(
        "cache-pinned-by-hostname",
        "data-service-pinned",
        on(CACHE, set_input("taskSpec.placement.constraints", ["node.hostname == node-1"])),
    ),
    # secrets
    case(
        "password-in-env",
        "no-plaintext-secrets",
        on(BACKEND, set_input(spec("env.PAP_DATABASE_PASSWORD"), "hunter2-hunter2")),
    ),
    case(
        "password-in-url",
        "no-plaintext-secrets",
        on(BACKEND, set_input(spec("env.PAP_SENTRY_DSN"), "https://user:pw@sentry.example/1")),
    ),
    case(
        "token-build-arg",
        "no-plaintext-secrets",
        on("images-proxy", lambda inputs: inputs["build"]["buildArgs"].update(API_TOKEN="abc123")),
    ),
    case(
        "secret-group-readable", "secret-files-owner-only", _first_secret(lambda s: s.update(fileMode=0o440))
    ),
    case("secret-default-mode", "secret-files-owner-only", _first_secret(lambda s: s.pop("fileMode"))),
    case("secret-owned-by-root", "secret-files-owner-only", _first_secret(lambda s: s.update(fileUid="0"))),
    case(
        "secret-not-mounted",
        "service-secret-files-mounted",
        on(BACKEND, _unmount_secret("/run/secrets/secret_key")),
    ),
    case("secret-not-declared", "service-secret-files-mounted", remove_resource("pap-dev-jwt-key")),
    case(
        "include-path-without-secrets",
        "service-secret-files-mounted",
        on(BACKUP, _unmount_secret("/run/secrets/pgbackrest/repo1.conf")),
    ),
    case(
        "include-secret-not-declared",
        "service-secret-files-mounted",
        remove_resource("pap-dev-pgbackrest-repo2"),
    ),
    case("key-in-config", "configs-hold-no-key-material", _key_as_config),
    # stack
    case("standalone-container", "no-standalone-containers", _standalone_container),
    case("no-backup-service", "database-backed-up", remove_resource(BACKUP)),
    case("backup-without-volume", "database-backed-up", on(BACKUP, _without_volume_mounts)),
    case("backup-on-database-volume", "database-backed-up", on(BACKUP, _backup_into(DATABASE_VOLUME))),
    # backups
    case("archive-mode-off", "database-archives-wal", on(DATABASE, _server_setting("archive_mode", "off"))),
    case(
        "archive-command-not-pgbackrest",
        "database-archives-wal",
        on(DATABASE, _server_setting("archive_command", "cp %p /var/lib/postgresql/data/wal/%f")),
    ),
    case(
        "archive-timeout-unset",
        "database-archives-wal",
        on(DATABASE, _server_setting("archive_timeout", None)),
    ),
    case("no-offsite-repository", "offsite-backup-repository", remove_resource(OFFSITE)),
    case(
        "offsite-on-data-network",
        "offsite-backup-repository",
        on(OFFSITE, append_input("taskSpec.networksAdvanceds", {"name": DATA_NETWORK, "aliases": []})),
    ),
    case(
        "posix-offsite-on-egress",
        "data-tier-internal-networks-only",
        _network_like_edge(EGRESS_NETWORK),
        on(OFFSITE, _joins(EGRESS_NETWORK)),
    ),
    case(
        "s3-offsite-turned-posix",
        "data-tier-internal-networks-only",
        on(OFFSITE_PGBACKREST, _without_lines("repo2-type=s3")),
        setting="s3",
    ),
    case(
        "s3-offsite-second-way-out",
        "data-tier-internal-networks-only",
        _network_like_edge("pap-dev-egress-2"),
        on(OFFSITE, _joins("pap-dev-egress-2")),
        setting="s3",
    ),
    case(
        "s3-database-on-egress",
        {"data-tier-internal-networks-only", "offsite-backup-repository"},
        on(DATABASE, _joins(EGRESS_NETWORK)),
        setting="s3",
        why="the database on a network that leaves the swarm, and the off-host repository's way out no "
        "longer its own",
    ),
    case(
        "s3-backend-on-egress",
        "offsite-backup-repository",
        on(BACKEND, _joins(EGRESS_NETWORK)),
        setting="s3",
    ),
    case("offsite-on-local-volume", "offsite-backup-repository", on(OFFSITE, _backup_into(BACKUP_VOLUME))),
    case(
        "offsite-on-database-volume", "offsite-backup-repository", on(OFFSITE, _backup_into(DATABASE_VOLUME))
    ),
    case(
        "offsite-on-data-node",
        "offsite-backup-repository",
        on(OFFSITE, set_input("taskSpec.placement.constraints", ["node.labels.pap.data == true"])),
    ),
    case(
        "database-one-repository",
        "offsite-backup-repository",
        on(DATABASE_PGBACKREST, _without_lines("repo2-")),
    ),
    case(
        "repository-cipher-none",
        "backup-repositories-encrypted",
        on(BACKUP_PGBACKREST, _replace_line("repo1-cipher-type=aes-256-cbc", "repo1-cipher-type=none")),
    ),
    case(
        "repository-cipher-unset",
        "backup-repositories-encrypted",
        on(OFFSITE_PGBACKREST, _without_lines("repo2-cipher-type=")),
    ),
    case(
        "repository-cipher-none-in-env",
        "backup-repositories-encrypted",
        on(BACKUP, set_input(spec("env.PGBACKREST_REPO1_CIPHER_TYPE"), "none")),
    ),
    case(
        "cipher-pass-in-config",
        "backup-repositories-encrypted",
        on(
            OFFSITE_PGBACKREST, _with_line("repo2-cipher-type=aes-256-cbc", "repo2-cipher-pass=correct-horse")
        ),
    ),
    case(
        "cipher-pass-in-env",
        "backup-repositories-encrypted",
        on(BACKUP, set_input(spec("env.PGBACKREST_REPO1_CIPHER_PASS"), "correct-horse-battery")),
    ),
    # tls
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
    # proxy (nginx.conf in its ServiceConfig)
    case(
        "tls-1.1",
        "nginx-tls-protocols",
        on(
            NGINX_CONF,
            edit_nginx(set_directive("ssl_protocols", "TLSv1.1", "TLSv1.2", "TLSv1.3")),
        ),
    ),
    case(
        "weak-cipher",
        "nginx-tls-ciphers",
        on(
            NGINX_CONF,
            edit_nginx(set_directive("ssl_ciphers", "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA")),
        ),
    ),
    case(
        "server-tokens-on",
        "nginx-server-tokens-off",
        on(NGINX_CONF, edit_nginx(set_directive("server_tokens", "on"))),
    ),
    case(
        "header-dropped-in-location",
        "nginx-security-headers",
        on(NGINX_CONF, edit_nginx(drop_header_in_api_location)),
    ),
    case(
        "hsts-without-always",
        "nginx-security-headers",
        on(NGINX_CONF, edit_nginx(drop_always_in_server)),
    ),
    case("csp-unsafe-inline", "nginx-csp-strict", on(NGINX_CONF, edit_nginx(csp_unsafe_inline))),
    case(
        "plain-http-served",
        "nginx-http-redirect-only",
        on(NGINX_CONF, edit_nginx(plain_http_served)),
    ),
    case("no-nginx-conf", "nginx-config-present", on(PROXY, _without_nginx_conf)),
    case("broken-nginx-conf", "nginx-config-present", on(NGINX_CONF, _broken_nginx_conf)),
    # the web frontend: its CSP is its own, passed through by nginx, and checked in its service's env
    case(
        "web-csp-undeclared",
        "nginx-security-headers",
        on(WEB, drop_input(spec("env.PAP_WEB_CSP"))),
    ),
    case(
        "web-location-hides-csp",
        "nginx-security-headers",
        on(NGINX_CONF, edit_nginx(hide_csp_in_frontend_location)),
    ),
    case(
        "web-location-drops-header",
        "nginx-security-headers",
        on(NGINX_CONF, edit_nginx(drop_header_in_frontend_location)),
    ),
    case(
        "web-csp-unsafe-inline",
        "nginx-csp-strict",
        on(WEB, _web_csp(lambda csp: csp.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"))),
    ),
    case(
        "web-csp-unsafe-eval",
        "nginx-csp-strict",
        on(WEB, _web_csp(lambda csp: csp.replace("'strict-dynamic'", "'strict-dynamic' 'unsafe-eval'"))),
    ),
    case(
        "web-csp-without-nonce",
        "nginx-csp-strict",
        on(WEB, _web_csp(lambda csp: csp.replace("script-src 'self' 'nonce-{nonce}'", "script-src 'self'"))),
    ),
    case(
        "web-csp-objects",
        "nginx-csp-strict",
        on(WEB, _web_csp(lambda csp: csp.replace("object-src 'none'", "object-src 'self'"))),
    ),
    case(
        "web-csp-no-base-uri",
        "nginx-csp-strict",
        on(WEB, _web_csp(lambda csp: csp.replace("base-uri 'none'; ", ""))),
    ),
    case(
        "web-csp-framable",
        "nginx-csp-strict",
        on(WEB, _web_csp(lambda csp: csp.replace("frame-ancestors 'none'", "frame-ancestors *"))),
    ),
    case(
        "web-publishes",
        {"single-ingress", "exclusive-service-stop-first"},
        on(WEB, set_input("endpointSpec.ports", [_host_port(3000, 13000)])),
        why="a second entry point, and a host-mode port that its start-first update would bind twice",
    ),
    case(
        "one-web-in-prod",
        "stateless-service-replicated",
        on("pap-prod-web", set_input("mode.replicated.replicas", 1)),
        setting="prod",
    ),
]
# Every backend case of a rule for any service, made on the web frontend's service (M[web-<id>]).
MUTATIONS = [*BASE_MUTATIONS, *(on_web(m) for m in BASE_MUTATIONS if m.service_edit is not None)]


def _plan(request: pytest.FixtureRequest, setting: str) -> dict[str, Any]:
    fixture, _, _ = SETTINGS[setting]
    plan: dict[str, Any] = request.getfixturevalue(fixture)
    return plan


def _evaluate(analyzer: AnalyzerClient, plan: dict[str, Any], setting: str) -> list[Violation]:
    _, stack, config = SETTINGS[setting]
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


@pytest.mark.parametrize(
    ("image", "service"),
    [("images-service", "pap-prod-backend"), ("images-web", "pap-prod-web")],
    ids=["service", "web"],
)
def test_service_image_built_in_prod_fires(
    image: str,
    service: str,
    analyzer: AnalyzerClient,
    dev_plan: dict[str, Any],
    prod_plan: dict[str, Any],
    baselines: dict[str, list[Violation]],
) -> None:
    plan = edited(prod_plan, _app_image_built_in_prod(dev_plan, image, service))
    _assert_fires_exactly(analyzer, plan, "prod", baselines, frozenset({"service-image-promoted"}))


def test_s3_offsite_plan_passes_with_its_egress_network(
    s3_plan: dict[str, Any], baselines: dict[str, list[Violation]]
) -> None:
    """The recorded S3 variant: the off-host repository on the offsite network and the egress network, which
    is not internal and which nothing else joins; the pack objects to nothing the posix dev plan passes."""
    (offsite,) = [item for item in s3_plan["resources"] if item["name"] == OFFSITE]
    joined = [n["name"] for n in offsite["inputs"]["taskSpec"]["networksAdvanceds"]]
    assert joined == ["pap-dev-offsite", EGRESS_NETWORK]
    (egress,) = [item for item in s3_plan["resources"] if item["inputs"].get("name") == EGRESS_NETWORK]
    assert egress["inputs"]["internal"] is False
    assert "repo2-type=s3" in decode(resource(s3_plan, OFFSITE_PGBACKREST)["inputs"]["data"]).splitlines()
    assert [(v.policy, v.name) for v in baselines["s3"]] == [(v.policy, v.name) for v in baselines["dev"]]


def test_modern_profile_refuses_the_recorded_intermediate_proxy(
    baselines: dict[str, list[Violation]],
) -> None:
    """The real prod config offers TLSv1.2: under "modern" exactly the protocol rule objects, on the proxy."""
    fired = new_violations(baselines["modern"], baselines["prod"])
    assert {(v.policy, v.name) for v in fired} == {("nginx-tls-protocols", "pap-prod-nginx-conf")}
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
