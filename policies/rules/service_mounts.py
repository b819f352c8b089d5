"""What a service mounts from the host: no sensitive directory, no Docker socket, no shared propagation.

A host path reaches a task three ways: a `bind` mount, a `volume` mount whose inline `volumeOptions`
bind a host directory, and a `docker.Volume` resource whose `driverOpts` do (local driver, `o: bind`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs, Severity

from ._policy import Report, resource_policy
from ._props import SERVICE, VOLUME, Resource, dicts, dig, text

SENSITIVE_HOST_DIRS = ("/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr")
DOCKER_SOCKET_PATHS = ("/var/run/docker.sock", "/run/docker.sock", "/var/run", "/run")
SHARED_PROPAGATIONS = ("shared", "rshared")


def _bound_device(options: object) -> str | None:
    """The host directory a local-driver volume's options bind (`o` contains `bind`), if any."""
    if not isinstance(options, dict):
        return None
    device = text(options.get("device"))
    binds = "bind" in (text(options.get("o")) or "").split(",")
    return posixpath.normpath(device) if device and binds else None


def host_paths(resource: Resource) -> Iterator[tuple[str, str]]:
    """(host path, where it is declared) for bind mounts and bind-backed volumes of a service or Volume."""
    if resource.type == SERVICE:
        for index, mount in enumerate(dicts(resource.spec("mounts"))):
            where = f"taskSpec.containerSpec.mounts[{index}]"
            source = text(mount.get("source"))
            if mount.get("type") == "bind" and source:
                yield posixpath.normpath(source), f"{where}.source"
            device = _bound_device(dig(mount, "volumeOptions", "driverOptions"))
            if mount.get("type") == "volume" and device:
                yield device, f"{where}.volumeOptions.driverOptions.device"
    elif resource.type == VOLUME:
        device = _bound_device(resource.get("driverOpts"))
        if device:
            yield device, "driverOpts.device"


def _is_under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory + "/")


def host_path_not_sensitive(args: ResourceValidationArgs, report: Report) -> None:
    resource = Resource.of(args)
    for path, where in host_paths(resource):
        if path == "/" or any(_is_under(path, directory) for directory in SENSITIVE_HOST_DIRS):
            report(
                f"{resource.describe()} exposes the host's {path} ({where}). Fix: use a named volume for "
                "data, or a docker.ServiceConfig / docker.Secret for files."
            )


def service_no_docker_socket(args: ResourceValidationArgs, report: Report) -> None:
    resource = Resource.of(args)
    for path, where in host_paths(resource):
        if path in DOCKER_SOCKET_PATHS:
            report(
                f"{resource.describe()} mounts the Docker socket ({path}, {where}): root on every node for "
                "anyone in the task. Fix: remove the mount."
            )


def service_mount_propagation(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != SERVICE:
        return
    service = Resource.of(args)
    for index, mount in enumerate(dicts(service.spec("mounts"))):
        options = mount.get("bindOptions")
        propagation = text(options.get("propagation")) if isinstance(options, dict) else None
        if propagation in SHARED_PROPAGATIONS:
            report(
                f"service '{service.name}' taskSpec.containerSpec.mounts[{index}] uses {propagation} "
                'propagation: mounts made inside reach the host. Fix: bindOptions.propagation "rprivate" '
                "(or leave it unset)."
            )


POLICIES = [
    resource_policy(
        "host-path-not-sensitive",
        host_path_not_sensitive,
        prohibits="Mounting sensitive host directories (/, /boot, /dev, /etc, /lib, /proc, /sys, /usr) is "
        "prohibited, whether by a bind mount, a volume mount's bind options or a Volume's bind driver "
        "options: they let a task change the host.",
        reference="CIS Docker 5.6",
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "service-no-docker-socket",
        service_no_docker_socket,
        prohibits="Mounting the Docker socket (or /run, /var/run) is prohibited: it grants root on the node.",
        reference="CIS Docker 5.32",
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "service-mount-propagation",
        service_mount_propagation,
        prohibits="Shared mount propagation (shared, rshared) is prohibited: mounts made in the task would "
        "reach the host.",
        reference="CIS Docker 5.20",
    ),
]
