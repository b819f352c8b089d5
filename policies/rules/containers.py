"""CIS Docker Benchmark v1.6 runtime controls (section 5, 4.1, 4.6): one rule per control, on containers.

Not expressible with pulumi-docker's `Container` (checked against the installed provider's schema,
`pulumi_docker/container.py`), hence not enforced here:
- CIS 5.29 PIDs limit: the Container resource has no `pids_limit` (nor any other field that reaches the Engine
  API's `HostConfig.PidsLimit`), so a program cannot set it and a rule could only ever fail. Set it on the
  daemon (`dockerd --default-pids-limit`) instead.
- CIS 5.19 ulimits: `ulimits` exists, but "set where needed" is workload specific; daemon defaults apply.
- `deviceRequests`: not a pulumi-docker Container property; `devices` and `gpus` are checked instead.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from ._policy import Report, resource_policy
from ._props import (
    CONTAINER,
    VOLUME,
    Resource,
    config_value,
    dicts,
    is_unknown,
    never_runs,
    number,
    strings,
    text,
)

SENSITIVE_HOST_DIRS = ("/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr")
DOCKER_SOCKET_PATHS = ("/var/run/docker.sock", "/run/docker.sock", "/var/run", "/run")
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::", "[::]")  # noqa: S104 - the addresses this module refuses
UNCONFINED_OPTS = ("apparmor=unconfined", "seccomp=unconfined", "label=disable", "systempaths=unconfined")
NO_NEW_PRIVILEGES = ("no-new-privileges", "no-new-privileges=true")
DEFAULT_ALLOWED_CAPABILITIES = ["NET_BIND_SERVICE"]
DEFAULT_MAX_RETRIES = 5
DEFAULT_ONE_SHOT_ROLES = ["migrate"]


def container_of(args: ResourceValidationArgs) -> Resource | None:
    return Resource.of(args) if args.resource_type == CONTAINER else None


def _name(container: Resource) -> str:
    return f"container '{container.name}'"


def _normalized_opts(container: Resource) -> list[str]:
    return [opt.replace(":", "=", 1).strip().lower() for opt in strings(container.get("securityOpts"))]


def _port(value: object) -> str:
    port = number(value)
    return str(int(port)) if port is not None else "?"


def _host_mode(container: Resource, key: str, report: Report, cis: str) -> None:
    mode = text(container.get(key))
    if mode is not None and mode.lower() == "host":
        report(
            f'{_name(container)} shares the host\'s namespace ({key}: "host", CIS {cis}). '
            f"Fix: remove {key} so the container gets its own namespace."
        )


def container_non_root(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is None or is_unknown(container.get("user")):
        return
    user = text(container.get("user"))
    fix = 'Fix: set user to the image\'s non-root UID with group 0, e.g. user "10001:0".'
    if not user:
        report(f"{_name(container)} sets no user, so it runs as whatever the image says (often root). {fix}")
        return
    uid = user.split(":", 1)[0].strip()
    if uid in ("0", "root", ""):
        report(f'{_name(container)} runs as root (user "{user}"). {fix}')


def container_not_privileged(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is not None and container.get("privileged") is True:
        report(
            f"{_name(container)} is privileged: it gets every capability and all host devices. "
            "Fix: remove privileged and add only the capability the process needs."
        )


def container_capabilities_dropped(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is None:
        return
    capabilities = container.get("capabilities")
    if is_unknown(capabilities):
        return
    capabilities = capabilities if isinstance(capabilities, dict) else {}
    drops = {cap.upper().removeprefix("CAP_") for cap in strings(capabilities.get("drops"))}
    adds = {cap.upper().removeprefix("CAP_") for cap in strings(capabilities.get("adds"))}
    allowed = {
        str(cap).upper()
        for cap in config_value(args.get_config(), "allowedAdds", DEFAULT_ALLOWED_CAPABILITIES)
    }
    if "ALL" not in drops and not is_unknown(capabilities.get("drops")):
        report(
            f'{_name(container)} keeps Docker\'s default capabilities (capabilities.drops lacks "ALL"). '
            'Fix: capabilities { drops: ["ALL"] } and add back only what is needed.'
        )
    extra = sorted(adds - allowed)
    if extra:
        report(
            f"{_name(container)} adds capabilities {', '.join(extra)} beyond the allowed "
            f"{sorted(allowed)}. Fix: remove them from capabilities.adds."
        )


def container_no_new_privileges(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is None or is_unknown(container.get("securityOpts")):
        return
    if not any(opt in NO_NEW_PRIVILEGES for opt in _normalized_opts(container)):
        report(
            f"{_name(container)} lets processes gain privileges through setuid binaries. "
            'Fix: add "no-new-privileges:true" to securityOpts.'
        )


def container_security_profiles(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is None:
        return
    disabled = sorted({opt for opt in _normalized_opts(container) if opt in UNCONFINED_OPTS})
    if disabled:
        report(
            f"{_name(container)} disables a kernel security profile ({', '.join(disabled)}). "
            "Fix: remove these securityOpts so Docker's default AppArmor/SELinux/seccomp profiles apply."
        )


def container_memory_limited(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is None or is_unknown(container.get("memory")):
        return
    memory = number(container.get("memory"))
    if memory is None or memory <= 0:
        report(f"{_name(container)} has no memory limit. Fix: set memory (MB), e.g. memory 512.")
    if number(container.get("memorySwap")) == -1:
        report(
            f"{_name(container)} may use unlimited swap (memorySwap -1). Fix: set memorySwap equal to memory."
        )


def container_cpu_limited(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is None or is_unknown(container.get("cpus")) or is_unknown(container.get("cpuShares")):
        return
    cpus = number(container.get("cpus"))
    shares = number(container.get("cpuShares"))
    if (cpus is None or cpus <= 0) and (shares is None or shares <= 0):
        report(f'{_name(container)} has no CPU limit. Fix: set cpus (e.g. "1.0") or cpuShares.')


def container_read_only_rootfs(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is None or is_unknown(container.get("readOnly")) or never_runs(container) is not False:
        return
    if container.get("readOnly") is not True:
        report(
            f"{_name(container)} has a writable root filesystem. "
            "Fix: readOnly true, with tmpfs for the paths the process writes (/tmp, run dirs)."
        )


def container_healthcheck(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is None:
        return
    healthcheck = container.get("healthcheck")
    if is_unknown(healthcheck) or (isinstance(healthcheck, dict) and is_unknown(healthcheck.get("tests"))):
        return
    tests = strings(healthcheck.get("tests")) if isinstance(healthcheck, dict) else []
    if not tests or tests[0].upper() == "NONE":
        report(
            f"{_name(container)} has no healthcheck, so a hung process looks healthy. "
            'Fix: healthcheck { tests: ["CMD", ...], interval, timeout, retries }.'
        )


def container_restart_policy(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is None or never_runs(container) is not False or is_unknown(container.role):
        return
    if is_unknown(container.get("restart")) or is_unknown(container.get("maxRetryCount")):
        return
    config = args.get_config()
    restart = text(container.get("restart")) or "no"
    max_retries = number(config_value(config, "maxRetryCount", DEFAULT_MAX_RETRIES)) or DEFAULT_MAX_RETRIES
    one_shot = container.role in config_value(config, "oneShotRoles", DEFAULT_ONE_SHOT_ROLES)
    if restart == "no" and one_shot:
        return
    retries = int(number(container.get("maxRetryCount")) or 0)
    if restart != "on-failure" or not 1 <= retries <= max_retries:
        report(
            f'{_name(container)} has restart "{restart}" with maxRetryCount {retries}: "always" and '
            '"unless-stopped" (or on-failure with 0) restart a crash loop forever, "no" leaves a crashed '
            "service "
            f'down. Fix: restart "on-failure" with maxRetryCount 1..{int(max_retries)}.'
        )


def container_no_host_network(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is not None:
        _host_mode(container, "networkMode", report, "5.10")


def container_no_host_pid(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is not None:
        _host_mode(container, "pidMode", report, "5.16")


def container_no_host_ipc(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is not None:
        _host_mode(container, "ipcMode", report, "5.17")


def container_no_host_userns(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is not None:
        _host_mode(container, "usernsMode", report, "5.31")


def container_not_default_bridge(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if (
        container is None
        or is_unknown(container.get("networkMode"))
        or is_unknown(container.get("networksAdvanced"))
    ):
        return
    mode = text(container.get("networkMode"))
    joins_networks = bool(list(dicts(container.get("networksAdvanced"))))
    if mode in ("bridge", "default") or (not mode and not joins_networks):
        report(
            f"{_name(container)} sits on Docker's default bridge, where every container can reach it. "
            "Fix: join a user-defined network through networksAdvanced."
        )


def container_no_devices(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is None:
        return
    devices = [text(device.get("hostPath")) or "?" for device in dicts(container.get("devices"))]
    if devices:
        report(f"{_name(container)} maps host devices {', '.join(devices)}. Fix: remove devices.")
    if text(container.get("gpus")):
        report(f"{_name(container)} requests host GPUs (gpus). Fix: remove gpus.")


def host_paths(resource: Resource) -> Iterator[tuple[str, str]]:
    """(host path, where it is declared) for bind mounts, host volumes and bind-backed Volume resources."""
    if resource.type == CONTAINER:
        for index, mount in enumerate(dicts(resource.get("mounts"))):
            source = text(mount.get("source"))
            if mount.get("type") == "bind" and source:
                yield posixpath.normpath(source), f"mounts[{index}].source"
        for index, volume in enumerate(dicts(resource.get("volumes"))):
            host_path = text(volume.get("hostPath"))
            if host_path:
                yield posixpath.normpath(host_path), f"volumes[{index}].hostPath"
    elif resource.type == VOLUME:
        options = resource.get("driverOpts")
        if isinstance(options, dict):
            device = text(options.get("device"))
            if device and "bind" in (text(options.get("o")) or "").split(","):
                yield posixpath.normpath(device), "driverOpts.device"


def _is_under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory + "/")


def host_path_not_sensitive(args: ResourceValidationArgs, report: Report) -> None:
    resource = Resource.of(args)
    for path, where in host_paths(resource):
        if path == "/" or any(_is_under(path, directory) for directory in SENSITIVE_HOST_DIRS):
            report(
                f"{resource.type.rsplit(':', 1)[-1].lower()} '{resource.name}' exposes the host's {path} "
                f"({where}). Fix: use a named volume, or an uploaded file under /run/pap."
            )


def container_no_docker_socket(args: ResourceValidationArgs, report: Report) -> None:
    resource = Resource.of(args)
    for path, where in host_paths(resource):
        if path in DOCKER_SOCKET_PATHS:
            report(
                f"'{resource.name}' mounts the Docker socket ({path}, {where}): root on the host for "
                "anyone in "
                "the container. Fix: remove the mount."
            )


def container_mount_propagation(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is None:
        return
    for index, mount in enumerate(dicts(container.get("mounts"))):
        options = mount.get("bindOptions")
        propagation = text(options.get("propagation")) if isinstance(options, dict) else None
        if propagation in ("shared", "rshared"):
            report(
                f"{_name(container)} mounts[{index}] uses {propagation} propagation: mounts made inside "
                'reach the host. Fix: bindOptions.propagation "rprivate" (or leave it unset).'
            )


def container_cgroup_parent(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is not None and text(container.get("cgroupParent")):
        report(
            f"{_name(container)} overrides its cgroup parent ({container.get('cgroupParent')}), escaping "
            "Docker's resource accounting. Fix: remove cgroupParent."
        )


def container_no_publish_all_ports(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is not None and container.get("publishAllPorts") is True:
        report(
            f"{_name(container)} publishes every exposed port on all interfaces (publishAllPorts). "
            'Fix: remove it and list the one needed port with ip "127.0.0.1".'
        )


def container_ports_bound_to_interface(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is None:
        return
    for port in dicts(container.get("ports")):
        if is_unknown(port.get("ip")):
            continue
        address = text(port.get("ip")) or ""
        if address in WILDCARD_ADDRESSES:
            shown = address or "unset, so 0.0.0.0"
            report(
                f"{_name(container)} publishes port {_port(port.get('internal'))} on every interface (ip "
                f"{shown}). "
                'Fix: bind it to one address, e.g. ip "127.0.0.1".'
            )


def container_no_privileged_host_ports(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is None:
        return
    for port in dicts(container.get("ports")):
        external = number(port.get("external"))
        if external is not None and 0 < external < 1024:
            report(
                f"{_name(container)} publishes host port {int(external)}, a privileged port. "
                "Fix: publish a port >= 1024 and let a front proxy or firewall map 80/443."
            )


def container_image_immutable(args: ResourceValidationArgs, report: Report) -> None:
    container = container_of(args)
    if container is None:
        return
    image = container.get("image")
    # Unknown during a preview means the reference comes from an image resource's output (ID or digest).
    if is_unknown(image) or not isinstance(image, str):
        return
    if not (image.startswith("sha256:") or "@sha256:" in image):
        report(
            f'{_name(container)} runs the moving reference "{image}". '
            "Fix: reference the image by ID (imageId / RemoteImage.imageId) or digest (name@sha256:...)."
        )


_CAPABILITY_CONFIG: dict[str, dict[str, Any]] = {
    "allowedAdds": {
        "type": "array",
        "items": {"type": "string"},
        "default": DEFAULT_ALLOWED_CAPABILITIES,
        "description": "Capabilities a container may add back after dropping ALL.",
    }
}
_RESTART_CONFIG: dict[str, dict[str, Any]] = {
    "maxRetryCount": {"type": "integer", "minimum": 1, "default": DEFAULT_MAX_RETRIES},
    "oneShotRoles": {
        "type": "array",
        "items": {"type": "string"},
        "default": DEFAULT_ONE_SHOT_ROLES,
        "description": 'pap.role values of run-once containers, which may use restart "no".',
    },
}

POLICIES = [
    resource_policy(
        "container-non-root",
        container_non_root,
        prohibits="Containers must set a non-root user; root in a container is root on the host after an "
        "escape.",
        reference="CIS Docker 4.1",
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "container-not-privileged",
        container_not_privileged,
        prohibits="Privileged containers are prohibited: they get all capabilities and host devices.",
        reference="CIS Docker 5.5",
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "container-capabilities-dropped",
        container_capabilities_dropped,
        prohibits="Containers must drop ALL capabilities and add back only allowed ones (least privilege).",
        reference="CIS Docker 5.4",
        config=_CAPABILITY_CONFIG,
    ),
    resource_policy(
        "container-no-new-privileges",
        container_no_new_privileges,
        prohibits="Containers must set no-new-privileges so setuid binaries cannot raise privileges.",
        reference="CIS Docker 5.26",
    ),
    resource_policy(
        "container-security-profiles",
        container_security_profiles,
        prohibits="Disabling AppArmor, SELinux labels or seccomp is prohibited: they confine kernel access.",
        reference="CIS Docker 5.2, 5.3, 5.22",
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "container-memory-limited",
        container_memory_limited,
        prohibits="Containers must have a memory limit (and no unlimited swap) so one cannot starve the "
        "host.",
        reference="CIS Docker 5.11",
        severity=Severity.MEDIUM,
    ),
    resource_policy(
        "container-cpu-limited",
        container_cpu_limited,
        prohibits="Containers must have a CPU limit (cpus or cpuShares) so one cannot starve the others.",
        reference="CIS Docker 5.12",
        severity=Severity.MEDIUM,
    ),
    resource_policy(
        "container-read-only-rootfs",
        container_read_only_rootfs,
        prohibits="Writable root filesystems are prohibited: an intruder could alter binaries and config. "
        "Exempt: never-started seed containers (start and mustRun false, networkMode none) that carry "
        "uploads.",
        reference="CIS Docker 5.13",
    ),
    resource_policy(
        "container-healthcheck",
        container_healthcheck,
        prohibits="Containers must declare a healthcheck so a hung service is detected and not routed to.",
        reference="CIS Docker 4.6, 5.27",
        severity=Severity.MEDIUM,
    ),
    resource_policy(
        "container-restart-policy",
        container_restart_policy,
        prohibits='Restart policies other than "on-failure" with at most 5 retries are prohibited (crash '
        "loops).",
        reference="CIS Docker 5.15",
        severity=Severity.LOW,
        config=_RESTART_CONFIG,
    ),
    resource_policy(
        "container-no-host-network",
        container_no_host_network,
        prohibits="The host network namespace is prohibited: the container would see every host interface.",
        reference="CIS Docker 5.10",
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "container-no-host-pid",
        container_no_host_pid,
        prohibits="The host PID namespace is prohibited: the container could see and signal host processes.",
        reference="CIS Docker 5.16",
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "container-no-host-ipc",
        container_no_host_ipc,
        prohibits="The host IPC namespace is prohibited: the container could read host shared memory.",
        reference="CIS Docker 5.17",
    ),
    resource_policy(
        "container-no-host-userns",
        container_no_host_userns,
        prohibits="Sharing the host user namespace is prohibited: it disables user-namespace remapping.",
        reference="CIS Docker 5.31",
    ),
    resource_policy(
        "container-not-default-bridge",
        container_not_default_bridge,
        prohibits="The default bridge is prohibited: every container on it can reach every other one.",
        reference="CIS Docker 5.30 (network isolation)",
        severity=Severity.MEDIUM,
    ),
    resource_policy(
        "container-no-devices",
        container_no_devices,
        prohibits="Host devices and GPUs are prohibited in containers: direct device access bypasses "
        "isolation.",
        reference="CIS Docker 5.18",
    ),
    resource_policy(
        "host-path-not-sensitive",
        host_path_not_sensitive,
        prohibits="Mounting sensitive host directories (/, /boot, /dev, /etc, /lib, /proc, /sys, /usr), also "
        "through a Volume's bind driver options, is prohibited: they let a container change the host.",
        reference="CIS Docker 5.6",
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "container-no-docker-socket",
        container_no_docker_socket,
        prohibits="Mounting the Docker socket is prohibited: it grants root on the host.",
        reference="CIS Docker 5.32",
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "container-mount-propagation",
        container_mount_propagation,
        prohibits="Shared mount propagation is prohibited: mounts made in the container would reach the "
        "host.",
        reference="CIS Docker 5.20",
    ),
    resource_policy(
        "container-cgroup-parent",
        container_cgroup_parent,
        prohibits="Overriding the cgroup parent is prohibited: it escapes Docker's resource limits.",
        reference="CIS Docker 5.25",
        severity=Severity.MEDIUM,
    ),
    resource_policy(
        "container-no-publish-all-ports",
        container_no_publish_all_ports,
        prohibits="publishAllPorts is prohibited: only the needed ports may be published.",
        reference="CIS Docker 5.8",
    ),
    resource_policy(
        "container-no-privileged-host-ports",
        container_no_privileged_host_ports,
        prohibits="Publishing on privileged host ports (< 1024) is prohibited.",
        reference="CIS Docker 5.9",
        severity=Severity.MEDIUM,
    ),
    resource_policy(
        "container-ports-bound-to-interface",
        container_ports_bound_to_interface,
        prohibits="Published ports must name one host address: the default (0.0.0.0) exposes them "
        "everywhere.",
        reference="CIS Docker 5.14",
    ),
    resource_policy(
        "container-image-immutable",
        container_image_immutable,
        prohibits="Containers must run an immutable image reference (sha256 ID or @sha256 digest), not a tag "
        "that can move under a running deployment.",
        reference="CIS Docker 5.28",
    ),
]

# Exported for the README's "not expressible" list and the tests that keep it honest.
NOT_EXPRESSIBLE = {
    "CIS Docker 5.29": "PIDs limit: pulumi-docker's Container has no pids_limit property.",
    "CIS Docker 5.19": "ulimits 'where needed' is workload specific; left to the daemon defaults.",
}
