"""Physical names and labels: the project and the stack in every name, so stacks can share one engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi_docker as docker

Role = Literal["proxy", "backend", "migrate", "web", "database", "cache", "backup", "backup-offsite"]

LABEL_PROJECT = "pap.project"
LABEL_STACK = "pap.stack"
LABEL_ROLE = "pap.role"
NAME_PREFIX = "pap"  # short form of the project name, used in every physical name


@dataclass(frozen=True)
class Naming:
    """Derives every physical name and label of one stack."""

    project: str
    stack: str

    def name(self, *parts: str) -> str:
        """`pap-<stack>-<parts...>`, the physical name of a Docker object."""
        return "-".join((NAME_PREFIX, self.stack, *parts))

    def labels(self, role: Role | None = None) -> dict[str, str]:
        labels = {LABEL_PROJECT: self.project, LABEL_STACK: self.stack}
        if role is not None:
            labels[LABEL_ROLE] = role
        return labels

    def volume_labels(self) -> list[docker.VolumeLabelArgs]:
        return [
            docker.VolumeLabelArgs(label=key, value=value) for key, value in sorted(self.labels().items())
        ]

    def network_labels(self) -> list[docker.NetworkLabelArgs]:
        return [
            docker.NetworkLabelArgs(label=key, value=value) for key, value in sorted(self.labels().items())
        ]
