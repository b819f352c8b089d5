"""CIS runtime controls a docker.Service cannot express (pulumi-docker 4.11.2, Engine API 1.41).

No rule can check a field that does not exist. Each entry names the Service input fields whose appearance
would make the control expressible (tests/policies/test_not_expressible.py reads the installed provider's
Service input classes and fails the day one appears, so a rule gets written) and what compensates for now.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NotExpressible:
    control: str  # the CIS control
    field_pattern: str  # regex over the snake_case input names of pulumi_docker's Service*Args classes
    compensation: str


NOT_EXPRESSIBLE: dict[str, NotExpressible] = {
    "CIS Docker 5.5": NotExpressible(
        "not privileged",
        r"privileged",
        "met by construction: Swarm cannot start a privileged task; what a task may do is bounded by "
        "`service-capabilities-dropped` (capDrops ALL, no capAdds)",
    ),
    "CIS Docker 5.16": NotExpressible(
        "no host PID namespace",
        r"^pid(_mode)?$|^pid_|_pid$",
        "met by construction: every Swarm task gets its own PID namespace",
    ),
    "CIS Docker 5.17": NotExpressible(
        "no host IPC namespace",
        r"ipc",
        "met by construction: every Swarm task gets its own IPC namespace (private /dev/shm)",
    ),
    "CIS Docker 5.31": NotExpressible(
        "no host user namespace",
        r"userns",
        "a task cannot opt out of the daemon's user-namespace setting (`dockerd --userns-remap` applies to "
        "every task); the tasks run as non-root UIDs (`service-non-root`)",
    ),
    "CIS Docker 5.18": NotExpressible(
        "no host devices",
        r"device",
        "no device mapping exists for a Service; its one device path, node generic resources, is refused "
        "by `service-no-devices`",
    ),
    "CIS Docker 5.25": NotExpressible(
        "cgroup parent not overridden",
        r"cgroup",
        "met by construction: tasks run under the daemon's cgroup parent; their limits and reservations "
        "are enforced by `service-memory-limited` and `service-cpu-limited`",
    ),
    "CIS Docker 5.22": NotExpressible(
        "default seccomp profile kept",
        r"seccomp",
        "met by construction: API 1.41 cannot change a task's seccomp profile, so the engine's default "
        "applies to every task",
    ),
    "CIS Docker 5.2": NotExpressible(
        "AppArmor profile kept",
        r"app_?armor",
        "met by construction: API 1.41 cannot change a task's AppArmor profile, so docker-default applies "
        "wherever the host runs AppArmor; SELinux is checked by `service-selinux-not-disabled`",
    ),
    "CIS Docker 5.26": NotExpressible(
        "no new privileges",
        r"no_new_privileges|new_privileges",
        "the images ship no setuid/setgid file "
        "(`tests/infra/test_images.py::test_image_has_no_setuid_or_setgid_program`), run as non-root UIDs "
        "with every capability dropped; `dockerd --no-new-privileges` sets it for every task where you "
        "control the engine",
    ),
    "CIS Docker 5.29": NotExpressible(
        "PIDs limit",
        r"pids",
        "the engine has it (`--limit-pids`, API 1.41) but pulumi-docker 4.11.2 does not expose it; the "
        "memory limit (`service-memory-limited`) caps what forked processes allocate, and `dockerd "
        "--default-ulimit nproc=<n>` caps their number per UID, which is per service here (one UID each)",
    ),
    "CIS Docker 5.19": NotExpressible(
        "ulimits set where needed",
        r"ulimit",
        "the engine has them (`--ulimit`, API 1.41) but pulumi-docker 4.11.2 does not expose them; "
        "`dockerd --default-ulimit` applies to every task",
    ),
}
