"""Stack rules: the data tier's isolation, one ingress, and backups for every database."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from pulumi_policy import Severity, StackValidationArgs

from ._policy import Report, stack_policy
from ._props import CONTAINER, NETWORK, Resource, Unknown, config_value, dicts, is_unknown, never_runs, text

DATA_TIER_ROLES = ("database", "cache")
DATA_TIER_IMAGE = re.compile(r"(^|/)(postgres|redis|valkey|mysql|mariadb|mongo)([:@]|$)")
FILES_DIR = "/run/pap"
DEFAULT_INGRESS_ROLE = "proxy"


def _containers(args: StackValidationArgs) -> list[Resource]:
    """The containers that actually run (seeds that only carry uploads are left out)."""
    resources = (Resource.of(resource) for resource in args.resources)
    return [
        resource for resource in resources if resource.type == CONTAINER and never_runs(resource) is not True
    ]


def _role(container: Resource) -> str | Unknown | None:
    if container.role is not None:
        return container.role
    image = text(container.get("image")) or ""
    return "database" if DATA_TIER_IMAGE.search(image) else None


def _publishes(container: Resource) -> bool:
    return bool(list(dicts(container.get("ports")))) or container.get("publishAllPorts") is True


def _publishing_unknown(container: Resource) -> bool:
    ports = container.get("ports")
    return (
        is_unknown(container.role)
        or is_unknown(ports)
        or is_unknown(container.get("publishAllPorts"))
        or (isinstance(ports, list) and any(not isinstance(port, dict) for port in ports))
    )


def _internal_networks(args: StackValidationArgs) -> dict[str, bool]:
    """Network name (physical, and logical as a fallback) -> whether it is internal."""
    internal: dict[str, bool] = {}
    for resource in (Resource.of(resource) for resource in args.resources):
        if resource.type != NETWORK:
            continue
        is_internal = resource.get("internal") is True
        internal[resource.name] = is_internal
        physical = text(resource.get("name"))
        if physical:
            internal[physical] = is_internal
    return internal


def _joined_networks(container: Resource) -> Iterator[str]:
    for network in dicts(container.get("networksAdvanced")):
        name = network.get("name")
        if isinstance(name, str):
            yield name
    mode = text(container.get("networkMode"))
    if mode and mode != "none":
        yield mode


def data_tier_internal_networks_only(args: StackValidationArgs, report: Report) -> None:
    internal = _internal_networks(args)
    for container in _containers(args):
        role = _role(container)
        if role not in DATA_TIER_ROLES:
            continue
        for network in _joined_networks(container):
            if not internal.get(network, False):
                report(
                    f"{role} container '{container.name}' joins network '{network}', which is not a "
                    "Network of "
                    "this stack with internal: true, so the data tier is reachable from outside. Fix: "
                    "attach it "
                    "only to the stack's internal backend network.",
                    container.urn,
                )


def data_tier_publishes_nothing(args: StackValidationArgs, report: Report) -> None:
    for container in _containers(args):
        role = _role(container)
        if role in DATA_TIER_ROLES and _publishes(container):
            report(
                f"{role} container '{container.name}' publishes ports on the host. Fix: remove ports; the "
                "backends reach it over the internal network (use `docker exec` for administration).",
                container.urn,
            )


def single_ingress(args: StackValidationArgs, report: Report) -> None:
    ingress_role = config_value(args.get_config(), "ingressRole", DEFAULT_INGRESS_ROLE)
    containers = _containers(args)
    publishers = [container for container in containers if _publishes(container)]
    if not containers or any(_publishing_unknown(container) for container in containers):
        return  # a preview cannot tell who publishes; `pulumi up` checks again with the values known
    if not publishers:
        anchor = next(
            (container for container in containers if container.role == ingress_role), containers[0]
        )
        report(
            f"no container publishes a port, so the platform is unreachable. Fix: publish the {ingress_role} "
            f"container's ports ('{anchor.name}').",
            anchor.urn,
        )
        return
    proxies = [container for container in publishers if container.role == ingress_role]
    for container in publishers:
        if container.role != ingress_role or len(proxies) > 1:
            report(
                f"container '{container.name}' (role {container.role or 'unlabelled'}) publishes ports "
                "besides the "
                f"one ingress; {len(publishers)} containers publish. Fix: publish only the {ingress_role} "
                "container's ports and route everything through it.",
                container.urn,
            )


def _has_backup_volume(container: Resource) -> bool:
    for volume in dicts(container.get("volumes")):
        path = text(volume.get("containerPath")) or ""
        if (volume.get("volumeName") is not None) and posixpath.normpath(path) != FILES_DIR:
            return True
    for mount in dicts(container.get("mounts")):
        target = text(mount.get("target")) or ""
        if mount.get("type") == "volume" and posixpath.normpath(target) != FILES_DIR:
            return True
    return False


def database_backed_up(args: StackValidationArgs, report: Report) -> None:
    containers = _containers(args)
    backups = [container for container in containers if container.role == "backup"]
    with_volume = [container for container in backups if _has_backup_volume(container)]
    for database in (container for container in containers if _role(container) == "database"):
        if not backups:
            report(
                f"database container '{database.name}' has no backup container (pap.role backup) in the "
                "stack. "
                "Fix: add the backup component for it.",
                database.urn,
            )
        elif not with_volume:
            names = ", ".join(f"'{backup.name}'" for backup in backups)
            report(
                f"database container '{database.name}': backup container {names} mounts no backup volume, so "
                "dumps die with the container. Fix: mount a named volume for the dumps (not /run/pap).",
                database.urn,
            )


POLICIES = [
    stack_policy(
        "data-tier-internal-networks-only",
        data_tier_internal_networks_only,
        prohibits="Database and cache containers may join only networks declared with internal: true: the "
        "data "
        "tier must not be reachable from the host or the edge network.",
        reference="OWASP Docker Security Cheat Sheet rule 5 (network segmentation); CIS Docker 5.30",
        severity=Severity.CRITICAL,
    ),
    stack_policy(
        "data-tier-publishes-nothing",
        data_tier_publishes_nothing,
        prohibits="Database and cache containers must publish no port: a published database port is the "
        "classic "
        "data breach (neither Checkov nor KICS checks it).",
        reference="CIS Docker 5.8; OWASP Docker Security Cheat Sheet rule 5",
        severity=Severity.CRITICAL,
    ),
    stack_policy(
        "single-ingress",
        single_ingress,
        prohibits="Exactly one ingress container (the TLS proxy) may publish ports; every other entry point "
        "bypasses TLS, headers and rate limits.",
        reference="CIS Docker 5.8; OWASP ASVS V14.4",
        config={"ingressRole": {"type": "string", "default": DEFAULT_INGRESS_ROLE}},
    ),
    stack_policy(
        "database-backed-up",
        database_backed_up,
        prohibits="Every database needs a backup container with a backup volume in the same stack: data "
        "without "
        "an automated backup is data waiting to be lost.",
        reference="OWASP ASVS V14.1 (backups); CIS Controls 11",
        severity=Severity.MEDIUM,
    ),
]
