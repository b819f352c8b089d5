"""One hardened Swarm service recipe (CIS Docker 5.x) for every role, and the secrets and configs it uses."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_docker as docker

from infra.config import ServiceResources
from infra.naming import Naming, Role

SECRETS_DIR = "/run/secrets"  # Swarm's own tmpfs for secrets, never written to disk on the node
FILES_DIR = "/run/pap"  # where configs are mounted (every image has the directory)
SECRET_FILE_MODE = 0o400  # owner only: the file belongs to the service's UID
CONFIG_FILE_MODE = 0o444
HEALTHCHECK = ["CMD", "pap-healthcheck"]  # every image ships it (ARCHITECTURE.md, "Image contracts")
MAX_RESTARTS = 5  # CIS 5.15, counted per RESTART_WINDOW so a task is not given up on forever
RESTART_WINDOW = "120s"
LOG_OPTIONS = {"max-size": "10m", "max-file": "3"}
# A name without a running task (a service scaled to 0 or restarting) is forwarded upstream by Swarm's
# resolver, which internal networks cannot reach: the client waited 5 s x 2 attempts, 10 s per lookup
# (measured by the e2e "Redis gone"); with these options 1 s. pulumi-docker requires nameservers with the
# options: the embedded resolver itself, which every task on a user-defined network uses anyway.
RESOLVER = docker.ServiceTaskSpecContainerSpecDnsConfigArgs(
    nameservers=["127.0.0.11"], options=["timeout:1", "attempts:1"]
)
MB = 1024 * 1024
NANO = 1_000_000_000
DATA_NODE_CONSTRAINT = "node.labels.pap.data == true"  # where the data tier and its volumes live
INGRESS_NODE_CONSTRAINT = "node.labels.pap.ingress == true"  # the node whose address the proxy publishes on

UpdateOrder = Literal["start-first", "stop-first"]


def content_name(naming: Naming, part: str, content: pulumi.Input[str]) -> pulumi.Output[str]:
    """`pap-<stack>-<part>-<12 hex>`: Swarm secrets and configs are immutable, so new content is a new name,
    which Pulumi replaces (create before delete) and every service that mounts it rolls onto."""
    return pulumi.Output.from_input(content).apply(
        lambda value: naming.name(part, hashlib.sha256(value.encode()).hexdigest()[:12])
    )


def _base64(content: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.from_input(content).apply(lambda value: base64.b64encode(value.encode()).decode())


def swarm_secret(
    naming: Naming, part: str, content: pulumi.Input[str], parent: pulumi.Resource
) -> docker.Secret:
    """A Swarm secret (encrypted in the raft log, mounted on a tmpfs); its data stays secret in the state."""
    data: pulumi.Output[str] = pulumi.Output.secret(_base64(content))
    return docker.Secret(
        naming.name(part),
        name=content_name(naming, part, content),
        data=data,
        labels=[docker.SecretLabelArgs(label=key, value=value) for key, value in naming.labels().items()],
        opts=pulumi.ResourceOptions(parent=parent),
    )


def swarm_config(
    naming: Naming, part: str, content: pulumi.Input[str], parent: pulumi.Resource
) -> docker.ServiceConfig:
    """A Swarm config: a non-secret file (nginx.conf, a certificate) mounted read-only into tasks."""
    return docker.ServiceConfig(
        naming.name(part),
        name=content_name(naming, part, content),
        data=_base64(content),
        opts=pulumi.ResourceOptions(parent=parent),
    )


@dataclass(frozen=True)
class SecretFile:
    """A secret mounted at /run/secrets/<file_name>, owned by the task's user, mode 0400."""

    file_name: str
    secret: docker.Secret

    @property
    def path(self) -> str:
        return f"{SECRETS_DIR}/{self.file_name}"


@dataclass(frozen=True)
class ConfigFile:
    path: str
    config: docker.ServiceConfig


@dataclass(frozen=True)
class NetworkAttachment:
    network_name: pulumi.Input[str]
    aliases: Sequence[str] = ()


@dataclass(frozen=True)
class Port:
    """A port published on the ingress node in host mode (bound where docker_gwbridge binds, see proxy.py)."""

    name: str
    internal: int
    external: int


@dataclass(frozen=True)
class Tmpfs:
    size_mb: int = 64
    mode: int = 0o1777


@dataclass(frozen=True)
class Health:
    tests: Sequence[str] = tuple(HEALTHCHECK)
    interval: str = "5s"
    timeout: str = "3s"
    start_period: str = "30s"
    retries: int = 3

    def monitor(self) -> str:
        """How long an update watches a new task once it is healthy: long enough for the health check to
        fail it (a task that never gets healthy fails before that, when Swarm kills it as unhealthy)."""
        seconds = _seconds(self.interval) * self.retries + _seconds(self.timeout)
        return f"{max(10, seconds)}s"


def _seconds(duration: str) -> int:
    return int(duration.removesuffix("s"))


@dataclass
class ServiceSpec:
    """What differs between roles; everything else is the same hardening for all."""

    thing: str  # the part of the physical name after `pap-<stack>-`
    role: Role
    image: pulumi.Input[str]
    uid: int
    resources: ServiceResources  # the stack config's part: limits and reservations
    networks: Sequence[NetworkAttachment]
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    args: Sequence[str] | None = None  # replaces the image's CMD, never its ENTRYPOINT
    secrets: Sequence[SecretFile] = ()
    configs: Sequence[ConfigFile] = ()
    tmpfs: Mapping[str, Tmpfs] = field(default_factory=lambda: {"/tmp": Tmpfs()})  # noqa: S108 - a tmpfs
    volumes: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # container path -> volume name
    ports: Sequence[Port] = ()
    replicas: int = 1
    order: UpdateOrder = "stop-first"
    constraints: Sequence[str] = ()
    health: Health = Health()
    stop_grace_period: str = "30s"


def _labels(naming: Naming, role: Role) -> dict[str, str]:
    return dict(sorted(naming.labels(role).items()))


def _mounts(spec: ServiceSpec) -> list[docker.ServiceTaskSpecContainerSpecMountArgs]:
    tmpfs = [
        docker.ServiceTaskSpecContainerSpecMountArgs(
            target=path,
            type="tmpfs",
            tmpfs_options=docker.ServiceTaskSpecContainerSpecMountTmpfsOptionsArgs(
                size_bytes=mount.size_mb * MB, mode=mount.mode
            ),
        )
        for path, mount in sorted(spec.tmpfs.items())
    ]
    volumes = [
        docker.ServiceTaskSpecContainerSpecMountArgs(
            target=path, type="volume", source=volume, read_only=False
        )
        for path, volume in sorted(spec.volumes.items())
    ]
    return tmpfs + volumes


def _rollout(spec: ServiceSpec, failure_action: str) -> dict[str, object]:
    # One task at a time; a task that fails within the monitor window fails the update.
    return {
        "parallelism": 1,
        "delay": "2s",
        "failure_action": failure_action,
        "monitor": spec.health.monitor(),
        "max_failure_ratio": "0",
        "order": spec.order,
    }


def hardened_service(
    naming: Naming, spec: ServiceSpec, parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = ()
) -> docker.Service:
    """Declares the service under `parent`: non-root, read-only, no capabilities, bounded, rolled safely."""
    labels = _labels(naming, spec.role)
    uid = str(spec.uid)
    container_spec = docker.ServiceTaskSpecContainerSpecArgs(
        image=spec.image,
        user=f"{spec.uid}:0",
        read_only=True,
        cap_drops=["ALL"],
        args=list(spec.args) if spec.args is not None else None,
        env=dict(sorted(spec.env.items())),
        healthcheck=docker.ServiceTaskSpecContainerSpecHealthcheckArgs(
            tests=list(spec.health.tests),
            interval=spec.health.interval,
            timeout=spec.health.timeout,
            start_period=spec.health.start_period,
            retries=spec.health.retries,
        ),
        mounts=_mounts(spec),
        secrets=[
            docker.ServiceTaskSpecContainerSpecSecretArgs(
                secret_id=item.secret.id,
                secret_name=item.secret.name,
                file_name=item.path,
                file_uid=uid,
                file_gid="0",
                file_mode=SECRET_FILE_MODE,
            )
            for item in spec.secrets
        ],
        configs=[
            docker.ServiceTaskSpecContainerSpecConfigArgs(
                config_id=item.config.id,
                config_name=item.config.name,
                file_name=item.path,
                file_uid=uid,
                file_gid="0",
                file_mode=CONFIG_FILE_MODE,
            )
            for item in spec.configs
        ],
        dns_config=RESOLVER,
        stop_grace_period=spec.stop_grace_period,
        labels=[
            docker.ServiceTaskSpecContainerSpecLabelArgs(label=key, value=value)
            for key, value in labels.items()
        ],
    )
    task_spec = docker.ServiceTaskSpecArgs(
        container_spec=container_spec,
        resources=docker.ServiceTaskSpecResourcesArgs(
            limits=docker.ServiceTaskSpecResourcesLimitsArgs(
                memory_bytes=spec.resources.limits.memory_mb * MB,
                nano_cpus=round(spec.resources.limits.cpus * NANO),
            ),
            reservation=docker.ServiceTaskSpecResourcesReservationArgs(
                memory_bytes=spec.resources.reserved.memory_mb * MB,
                nano_cpus=round(spec.resources.reserved.cpus * NANO),
            ),
        ),
        restart_policy=docker.ServiceTaskSpecRestartPolicyArgs(
            condition="on-failure", delay="5s", max_attempts=MAX_RESTARTS, window=RESTART_WINDOW
        ),
        placement=docker.ServiceTaskSpecPlacementArgs(constraints=list(spec.constraints))
        if spec.constraints
        else None,
        networks_advanceds=[
            docker.ServiceTaskSpecNetworksAdvancedArgs(
                name=network.network_name, aliases=list(network.aliases)
            )
            for network in spec.networks
        ],
        log_driver=docker.ServiceTaskSpecLogDriverArgs(name="json-file", options=LOG_OPTIONS),
    )
    return docker.Service(
        naming.name(spec.thing),
        name=naming.name(spec.thing),
        labels=[docker.ServiceLabelArgs(label=key, value=value) for key, value in labels.items()],
        mode=docker.ServiceModeArgs(replicated=docker.ServiceModeReplicatedArgs(replicas=spec.replicas)),
        task_spec=task_spec,
        update_config=docker.ServiceUpdateConfigArgs(**_rollout(spec, "rollback")),  # type: ignore[arg-type]
        # A rollback that fails too stops where it is, for an operator: never a loop of rollbacks.
        rollback_config=docker.ServiceRollbackConfigArgs(**_rollout(spec, "pause")),  # type: ignore[arg-type]
        # DNS round robin, not a virtual IP: Swarm's VIP needs the kernel's IPVS, which these machines'
        # kernels lack (CONFIG_IP_VS unset: a VIP accepts connections and passes nothing). The service name
        # resolves to the addresses of the tasks that are up and healthy; clients (nginx, psycopg, redis-py)
        # resolve it again on every new connection.
        endpoint_spec=docker.ServiceEndpointSpecArgs(
            mode="dnsrr",
            ports=[
                docker.ServiceEndpointSpecPortArgs(
                    name=port.name,
                    protocol="tcp",
                    target_port=port.internal,
                    published_port=port.external,
                    publish_mode="host",
                )
                for port in spec.ports
            ],
        ),
        # The provider waits until the tasks run (healthy) or the rolling update completed; a rollback by
        # Swarm fails the deploy, so dependents never proceed on a service that did not converge.
        converge_config=docker.ServiceConvergeConfigArgs(delay="1s", timeout="5m"),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )


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
