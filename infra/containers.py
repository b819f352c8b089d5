"""One hardened container recipe (CIS Docker 5.x) for every role, and the seed that ships its files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_docker as docker

from infra.config import Limits
from infra.naming import Naming, Role

FILES_DIR = "/run/pap"
SECRETS_DIR = f"{FILES_DIR}/secrets"
SECRET_MODE = "0440"  # noqa: S105 - a file mode, not a password; owner and the container's group 0; never others (ARCHITECTURE.md, "Files")
CONFIG_MODE = "0444"
HEALTHCHECK = ["CMD", "pap-healthcheck"]  # every image ships it (ARCHITECTURE.md, "Image contracts")
MAX_RESTARTS = 5
LOG_OPTIONS = {"max-size": "10m", "max-file": "3"}
TMP_TMPFS = "rw,noexec,nosuid,nodev,size=64m"
# Docker's resolver forwards an unknown name (a stopped peer's alias) upstream, which internal networks
# cannot reach: without these options a lookup of a stopped cache took 10 s (5 s x 2 attempts), with them 1 s.
RESOLVER_OPTIONS = ["timeout:1", "attempts:1"]


@dataclass(frozen=True)
class FileUpload:
    """A file for /run/pap; secret content is wrapped as a Pulumi secret and uploaded owner/group-only."""

    path: str
    content: pulumi.Input[str]
    secret: bool = False


@dataclass(frozen=True)
class NetworkAttachment:
    network_name: pulumi.Input[str]
    aliases: Sequence[str] = ()


@dataclass(frozen=True)
class Port:
    internal: int
    external: int
    ip: str


@dataclass
class ContainerSpec:
    """What differs between roles; everything else is the same hardening for all."""

    thing: str  # the part of the physical name after `pap-<stack>-`
    role: Role
    image: pulumi.Input[str]
    uid: int
    limits: Limits
    networks: Sequence[NetworkAttachment]
    envs: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    command: Sequence[str] | None = None
    files: Sequence[FileUpload] = ()
    tmpfs: Mapping[str, str] = field(default_factory=lambda: {"/tmp": TMP_TMPFS})  # noqa: S108 - a tmpfs
    volumes: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # container path -> volume name
    ports: Sequence[Port] = ()
    extra_labels: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    one_shot: bool = False  # runs to completion during the deploy (migrations) instead of staying up
    start_period: str = "30s"


def _labels(
    naming: Naming, role: Role, extra: Mapping[str, pulumi.Input[str]]
) -> list[docker.ContainerLabelArgs]:
    merged: dict[str, pulumi.Input[str]] = {**naming.labels(role), **extra}
    return [docker.ContainerLabelArgs(label=key, value=value) for key, value in sorted(merged.items())]


def _hardening(spec: ContainerSpec) -> dict[str, Any]:
    """Settings every container shares, seeds included: non-root, no capabilities, bounded, logged."""
    return {
        "image": spec.image,
        "user": f"{spec.uid}:0",
        "capabilities": docker.ContainerCapabilitiesArgs(drops=["ALL"]),
        "security_opts": ["no-new-privileges:true"],
        "privileged": False,
        "memory": spec.limits.memory_mb,
        "memory_swap": spec.limits.memory_mb,  # equal to memory: no swap on top of the limit
        "cpus": f"{spec.limits.cpus:g}",
        "healthcheck": docker.ContainerHealthcheckArgs(
            tests=HEALTHCHECK, interval="10s", timeout="5s", start_period=spec.start_period, retries=3
        ),
        "log_driver": "json-file",
        "log_opts": LOG_OPTIONS,
        "publish_all_ports": False,
    }


def labelled_volume(
    logical_name: str, physical_name: str, naming: Naming, parent: pulumi.Resource
) -> docker.Volume:
    """A named volume carrying the stack's labels, so teardown and the policy pack can find it."""
    return docker.Volume(
        logical_name,
        name=physical_name,
        labels=naming.volume_labels(),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def _uploads(files: Sequence[FileUpload]) -> list[docker.ContainerUploadArgs]:
    return [
        docker.ContainerUploadArgs(
            file=upload.path,
            content=pulumi.Output.secret(upload.content) if upload.secret else upload.content,
            permissions=SECRET_MODE if upload.secret else CONFIG_MODE,
        )
        for upload in files
    ]


def hardened_container(
    naming: Naming, spec: ContainerSpec, parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = ()
) -> docker.Container:
    """Declares the container (and, when it has files, its files volume and seed) under `parent`."""
    hardening = _hardening(spec)
    volumes = [
        docker.ContainerVolumeArgs(container_path=path, volume_name=volume, read_only=False)
        for path, volume in sorted(spec.volumes.items())
    ]
    extra_labels: dict[str, pulumi.Input[str]] = {"pap.part": "service", **spec.extra_labels}
    dependencies = list(depends_on)
    if spec.files:
        # Docker refuses uploads into a read-only container even under a mounted volume, so a never-started
        # writable seed container carries the uploads into a named volume the real container then mounts.
        files_name = naming.name(spec.thing, "files")
        files_volume = labelled_volume(files_name, files_name, naming, parent)
        seed = docker.Container(
            naming.name(spec.thing, "seed"),
            name=naming.name(spec.thing, "seed"),
            start=False,
            must_run=False,
            read_only=False,
            network_mode="none",
            restart="no",
            labels=_labels(naming, spec.role, {"pap.part": "seed"}),
            volumes=[docker.ContainerVolumeArgs(container_path=FILES_DIR, volume_name=files_volume.name)],
            uploads=_uploads(spec.files),
            opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True),
            **hardening,
        )
        volumes.append(
            docker.ContainerVolumeArgs(
                container_path=FILES_DIR, volume_name=files_volume.name, read_only=True
            )
        )
        # A new seed (new files) gets a new ID, and this label makes the container pick the files up.
        extra_labels["pap.seed-id"] = seed.id
        dependencies.append(seed)
    lifecycle: dict[str, Any] = (
        {"must_run": False, "attach": True, "logs": True, "restart": "no"}
        if spec.one_shot
        else {
            "must_run": True,
            "wait": True,  # the provider waits for `healthy`, so dependents start on a healthy container
            "wait_timeout": 180,
            "restart": "on-failure",
            "max_retry_count": MAX_RESTARTS,
        }
    )
    # Logical name = physical name (`pap-<stack>-<thing>`), as in the plan format of docs/ARCHITECTURE.md.
    return docker.Container(
        naming.name(spec.thing),
        name=naming.name(spec.thing),
        read_only=True,
        dns_opts=RESOLVER_OPTIONS,
        tmpfs=dict(spec.tmpfs),
        envs=[pulumi.Output.concat(key, "=", value) for key, value in sorted(spec.envs.items())],
        command=list(spec.command) if spec.command is not None else None,
        labels=_labels(naming, spec.role, extra_labels),
        networks_advanced=[
            docker.ContainerNetworksAdvancedArgs(name=network.network_name, aliases=list(network.aliases))
            for network in spec.networks
        ],
        ports=[
            docker.ContainerPortArgs(internal=p.internal, external=p.external, ip=p.ip) for p in spec.ports
        ],
        volumes=volumes,
        destroy_grace_seconds=30,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=dependencies, delete_before_replace=True),
        **hardening,
        **lifecycle,
    )
