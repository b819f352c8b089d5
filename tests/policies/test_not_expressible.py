"""The controls the pack calls "not expressible" really have no field in the installed provider's Service.

Each test reads every `Service*Args` input class of the installed pulumi_docker (the schema the program and
the policy pack are written against) and fails the day a matching field appears: then the control becomes
enforceable, and a rule belongs in the pack instead of the README's "not expressible" list.
"""

from __future__ import annotations

import inspect
import re

import pulumi_docker
import pytest
from pulumi_docker import _inputs, service

from policies.rules.not_expressible import NOT_EXPRESSIBLE


def service_input_fields() -> set[str]:
    """The snake_case names of every input of docker.Service, at any depth."""
    classes = [
        cls
        for name, cls in vars(_inputs).items()
        if inspect.isclass(cls) and name.startswith("Service") and name.endswith("Args")
    ]
    classes.append(service.ServiceArgs)
    return {
        parameter
        for cls in classes
        for parameter in inspect.signature(cls.__init__).parameters
        if parameter not in ("self", "__self__")
    }


def test_the_schema_read_is_the_one_the_pack_is_written_for() -> None:
    fields = service_input_fields()
    # The inputs the rules read exist (the reader is not looking at an empty or renamed schema).
    assert {"cap_drops", "read_only", "user", "se_linux_context", "publish_mode", "file_mode"} <= fields
    assert pulumi_docker.__name__ == "pulumi_docker"


@pytest.mark.parametrize("control", sorted(NOT_EXPRESSIBLE))
def test_control_has_no_service_field(control: str) -> None:
    entry = NOT_EXPRESSIBLE[control]
    pattern = re.compile(entry.field_pattern)
    appeared = sorted(field for field in service_input_fields() if pattern.search(field))
    assert appeared == [], (
        f"{control} ({entry.control}) is now expressible through {appeared}: write a rule for it and take "
        "it off the not-expressible list"
    )


def test_every_entry_says_what_compensates() -> None:
    for control, entry in NOT_EXPRESSIBLE.items():
        assert control.startswith("CIS Docker "), control
        assert entry.compensation.strip(), control


# How each field would be named in pulumi_docker: Container's name for it, or the Engine API's for services
# (Privileges.Seccomp / AppArmor in API 1.44, NoNewPrivileges in 1.46, Limits.Pids and Ulimits in 1.41).
LIKELY_FIELD_NAMES = {
    "CIS Docker 5.5": "privileged",
    "CIS Docker 5.16": "pid_mode",
    "CIS Docker 5.17": "ipc_mode",
    "CIS Docker 5.31": "userns_mode",
    "CIS Docker 5.18": "devices",
    "CIS Docker 5.25": "cgroup_parent",
    "CIS Docker 5.22": "seccomp",
    "CIS Docker 5.2": "app_armor",
    "CIS Docker 5.26": "no_new_privileges",
    "CIS Docker 5.29": "pids",
    "CIS Docker 5.19": "ulimits",
}


def test_each_watch_pattern_would_see_its_field() -> None:
    assert set(LIKELY_FIELD_NAMES) == set(NOT_EXPRESSIBLE)
    for control, name in LIKELY_FIELD_NAMES.items():
        assert re.search(NOT_EXPRESSIBLE[control].field_pattern, name), control
