"""CIS Docker Benchmark runtime controls on a Swarm service's task (user, capabilities, filesystem, limits).

Every rule reads `docker:index/service:Service` inputs, mostly `taskSpec.containerSpec` (wire names). The
controls a Service cannot express at all (pulumi-docker 4.11.2, Engine API 1.41) are in `not_expressible.py`.
"""

from __future__ import annotations

import re

from pulumi_policy import ResourceValidationArgs, Severity

from ._policy import Report, resource_policy
from ._props import config_value, is_unknown, number, service_of, strings, text, uid_of

DEFAULT_ALLOWED_CAPABILITIES: list[str] = []
DEFAULT_MAX_ATTEMPTS = 5
NUMERIC_UID = re.compile(r"^[0-9]+$")


def service_non_root(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is None or is_unknown(service.spec("user")):
        return
    user = text(service.spec("user"))
    fix = 'Fix: set taskSpec.containerSpec.user to the image\'s numeric non-root UID with group 0, "10001:0".'
    if not user:
        report(
            f"{service.describe()} sets no user, so its tasks run as whatever the image says (often "
            f"root). {fix}"
        )
        return
    uid = uid_of(user)
    if not NUMERIC_UID.match(uid):
        report(
            f'{service.describe()} runs as user "{user}", a name the image\'s /etc/passwd may map to UID '
            f"0, and secret files cannot be given to it (fileUid is numeric). {fix}"
        )
    elif int(uid) == 0:
        report(f'{service.describe()} runs as root (user "{user}"). {fix}')


def _capabilities(value: object) -> set[str]:
    return {cap.upper().removeprefix("CAP_") for cap in strings(value)}


def service_capabilities_dropped(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is None:
        return
    drops, adds = service.spec("capDrops"), service.spec("capAdds")
    allowed = {
        str(cap).upper().removeprefix("CAP_")
        for cap in config_value(args.get_config(), "allowedAdds", DEFAULT_ALLOWED_CAPABILITIES)
    }
    if not is_unknown(drops) and "ALL" not in _capabilities(drops):
        report(
            f"{service.describe()} keeps Docker's default capabilities (taskSpec.containerSpec.capDrops "
            'lacks "ALL"). Fix: capDrops ["ALL"] and add back only what is needed in capAdds.'
        )
    extra = sorted(_capabilities(adds) - allowed)
    if extra:
        report(
            f"{service.describe()} adds capabilities {', '.join(extra)} beyond the allowed "
            f"{sorted(allowed)}. Fix: remove them from taskSpec.containerSpec.capAdds."
        )


def service_read_only_rootfs(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is None or is_unknown(service.spec("readOnly")):
        return
    if service.spec("readOnly") is not True:
        report(
            f"{service.describe()} has a writable root filesystem. Fix: taskSpec.containerSpec.readOnly "
            'true, with mounts of type "tmpfs" for the paths the process writes (/tmp, run dirs).'
        )


def _limit_and_reservation(
    args: ResourceValidationArgs, report: Report, key: str, what: str, example: str
) -> None:
    service = service_of(args)
    if service is None:
        return
    limit = service.at("taskSpec", "resources", "limits", key)
    reservation = service.at("taskSpec", "resources", "reservation", key)
    if is_unknown(limit) or is_unknown(reservation):
        return
    limit_value, reservation_value = number(limit), number(reservation)
    problems = []
    if limit_value is None or limit_value <= 0:
        problems.append(f"no {what} limit (resources.limits.{key}), so one task can starve the node")
    if reservation_value is None or reservation_value <= 0:
        problems.append(
            f"no {what} reservation (resources.reservation.{key}), so Swarm may place it on a node "
            "that cannot hold it"
        )
    elif limit_value is not None and limit_value > 0 and reservation_value > limit_value:
        problems.append(f"a {what} reservation above its limit")
    if problems:
        report(
            f"{service.describe()} has {'; '.join(problems)}. Fix: set taskSpec.resources.limits.{key} and "
            f"reservation.{key} (reservation <= limit), e.g. {example}."
        )


def service_memory_limited(args: ResourceValidationArgs, report: Report) -> None:
    _limit_and_reservation(args, report, "memoryBytes", "memory", "limit 536870912 (512 MiB)")


def service_cpu_limited(args: ResourceValidationArgs, report: Report) -> None:
    _limit_and_reservation(args, report, "nanoCpus", "CPU", "limit 1000000000 (one CPU)")


def service_no_devices(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is None:
        return
    generic = service.at("taskSpec", "resources", "reservation", "genericResources")
    if not isinstance(generic, dict):
        return
    requested = [
        spec
        for key in ("discreteResourcesSpecs", "namedResourcesSpecs")
        for spec in strings(generic.get(key))
    ]
    if requested:
        report(
            f"{service.describe()} reserves node devices ({', '.join(requested)}) through "
            "taskSpec.resources.reservation.genericResources. Fix: remove genericResources."
        )


def service_healthcheck(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is None:
        return
    healthcheck, tests = service.spec("healthcheck"), service.spec("healthcheck", "tests")
    if is_unknown(tests):
        return
    listed = strings(tests) if isinstance(healthcheck, dict) else []
    if not listed or listed[0].upper() == "NONE":
        report(
            f"{service.describe()} declares no healthcheck, so a hung task looks healthy and a broken "
            'release never rolls back. Fix: taskSpec.containerSpec.healthcheck { tests: ["CMD", ...], '
            "interval, timeout, startPeriod, retries }."
        )


def service_restart_policy(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is None:
        return
    condition = service.at("taskSpec", "restartPolicy", "condition")
    attempts = service.at("taskSpec", "restartPolicy", "maxAttempts")
    if is_unknown(condition) or is_unknown(attempts):
        return
    maximum = int(
        number(config_value(args.get_config(), "maxAttempts", DEFAULT_MAX_ATTEMPTS)) or DEFAULT_MAX_ATTEMPTS
    )
    shown_condition = text(condition) or 'unset, so "any"'
    tries = int(number(attempts) or 0)
    if text(condition) != "on-failure" or not 1 <= tries <= maximum:
        report(
            f"{service.describe()} has restartPolicy condition {shown_condition} with maxAttempts {tries}: "
            '"any" (the default) or unlimited attempts restart a crash loop forever, "none" leaves a '
            f'crashed task down. Fix: taskSpec.restartPolicy {{ condition: "on-failure", maxAttempts: '
            f"1..{maximum}, window }}."
        )


def service_selinux_not_disabled(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is not None and service.spec("privileges", "seLinuxContext", "disable") is True:
        report(
            f"{service.describe()} disables SELinux labelling (privileges.seLinuxContext.disable). "
            "Fix: remove seLinuxContext.disable so the engine's default confinement applies."
        )


def service_image_immutable(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is None:
        return
    image = service.spec("image")
    # Unknown during a preview means the reference comes from an image resource's output (ID or digest).
    if not isinstance(image, str):
        return
    if not (image.startswith("sha256:") or "@sha256:" in image):
        report(
            f'{service.describe()} runs the moving reference "{image}". Fix: reference the image by ID '
            "(RemoteImage.imageId, sha256:...) or digest (name@sha256:...) in taskSpec.containerSpec.image."
        )


POLICIES = [
    resource_policy(
        "service-non-root",
        service_non_root,
        prohibits="Services must run as a numeric non-root UID (taskSpec.containerSpec.user); root in a "
        "container is root on the host after an escape, and a user name may resolve to UID 0.",
        reference="CIS Docker 4.1",
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "service-capabilities-dropped",
        service_capabilities_dropped,
        prohibits="Services must drop ALL capabilities (capDrops) and add back only allowed ones (capAdds, "
        "none by default): least privilege.",
        reference="CIS Docker 5.4",
        config={
            "allowedAdds": {
                "type": "array",
                "items": {"type": "string"},
                "default": DEFAULT_ALLOWED_CAPABILITIES,
                "description": "Capabilities a service may add back after dropping ALL.",
            }
        },
    ),
    resource_policy(
        "service-read-only-rootfs",
        service_read_only_rootfs,
        prohibits="Writable root filesystems are prohibited: an intruder could alter binaries and config. "
        "Writable paths are tmpfs mounts.",
        reference="CIS Docker 5.13",
    ),
    resource_policy(
        "service-memory-limited",
        service_memory_limited,
        prohibits="Services must set a memory limit and a memory reservation (reservation <= limit): without "
        "a limit one task starves the node, without a reservation Swarm overcommits it.",
        reference="CIS Docker 5.11",
        severity=Severity.MEDIUM,
    ),
    resource_policy(
        "service-cpu-limited",
        service_cpu_limited,
        prohibits="Services must set a CPU limit and a CPU reservation (nanoCpus, reservation <= limit) so "
        "one task cannot starve the others and Swarm places it where CPU is free.",
        reference="CIS Docker 5.12",
        severity=Severity.MEDIUM,
    ),
    resource_policy(
        "service-no-devices",
        service_no_devices,
        prohibits="Reserving node devices (GPUs and other generic resources) is prohibited: direct device "
        "access bypasses isolation. It is the only device path a Swarm service has.",
        reference="CIS Docker 5.18",
    ),
    resource_policy(
        "service-healthcheck",
        service_healthcheck,
        prohibits="Services must declare a healthcheck: Swarm routes to, and a rolling update trusts, only "
        "healthy tasks; without one a hung task looks healthy and a broken release never rolls back.",
        reference="CIS Docker 4.6, 5.27",
        severity=Severity.MEDIUM,
    ),
    resource_policy(
        "service-restart-policy",
        service_restart_policy,
        prohibits='Restart policies other than "on-failure" with 1 to 5 attempts are prohibited: the default '
        '"any" restarts a crash loop forever.',
        reference="CIS Docker 5.15",
        severity=Severity.LOW,
        config={"maxAttempts": {"type": "integer", "minimum": 1, "default": DEFAULT_MAX_ATTEMPTS}},
    ),
    resource_policy(
        "service-selinux-not-disabled",
        service_selinux_not_disabled,
        prohibits="Disabling SELinux labelling (privileges.seLinuxContext.disable) is prohibited: it removes "
        "the kernel's confinement of the task. (AppArmor and seccomp cannot be changed on a Service.)",
        reference="CIS Docker 5.3",
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "service-image-immutable",
        service_image_immutable,
        prohibits="Services must run an immutable image reference (sha256 ID or @sha256 digest), not a tag "
        "that can move under a running deployment or differ between the nodes' pulls.",
        reference="CIS Docker 5.28",
    ),
]
