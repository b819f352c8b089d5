"""docker:index/service:Service: the provider's createServiceSpec, then create / update / delete on Swarm.

The tables follow terraform-provider-docker's resource_docker_service_structures.go field by field (wire
names are pulumi-docker 4.11's camelCase), including the schema defaults the provider's Check fills in
before create (the mock runtime hands over the program's raw inputs). How the deploy waits afterwards is
in `resources/convergence.py`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors

from tests.e2e.properties import (
    PropertyTable,
    go_duration_ns,
    label_map,
    require_mapped,
    whole,
)
from tests.e2e.resources import convergence
from tests.e2e.resources.common import E2E_LABEL, ApplyError, Created, engine, engine_message

Body = dict[str, Any]
Entry = Callable[[Body, Any], None]

# The provider sends the (empty) registry auth of the service on create and update.
EMPTY_REGISTRY_AUTH = base64.urlsafe_b64encode(json.dumps({}).encode()).decode()
# How long removal waits for a task container to go before removing it by force (the provider waits up
# to stopGracePeriod per container, then removes it).
REMOVE_MARGIN_SECONDS = 15.0


def _set(key: str, convert: Callable[[Any], Any] = lambda value: value) -> Entry:
    return lambda body, value: body.__setitem__(key, convert(value))


def _object(key: str, table: PropertyTable[Body], defaults: Mapping[str, Any] | None = None) -> Entry:
    """A nested block (MaxItems 1 in the provider): the schema's defaults, then the given fields."""

    def apply(body: Body, value: Mapping[str, Any]) -> None:
        table.apply(body.setdefault(key, {}), {**(defaults or {}), **value})

    return apply


def _objects(key: str, table: PropertyTable[Body], defaults: Mapping[str, Any] | None = None) -> Entry:
    def apply(body: Body, value: list[Mapping[str, Any]]) -> None:
        items: list[Body] = []
        for item in value:
            target: Body = {}
            table.apply(target, {**(defaults or {}), **item})
            items.append(target)
        body[key] = items

    return apply


def _strings(value: list[Any]) -> list[str]:
    return [str(item) for item in value]


def _labels(where: str) -> Callable[[Any], dict[str, str]]:
    return lambda value: label_map(value, where)


# ------------------------------------------------------------------------------------------ container spec

HEALTHCHECK_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.containerSpec.healthcheck",
    {
        "tests": _set("Test", _strings),
        "interval": _set("Interval", go_duration_ns),
        "timeout": _set("Timeout", go_duration_ns),
        "startPeriod": _set("StartPeriod", go_duration_ns),
        "retries": _set("Retries", whole),
    },
)
HEALTHCHECK_DEFAULTS = {"interval": "0s", "timeout": "0s", "startPeriod": "0s", "retries": 0}

TMPFS_OPTIONS_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.containerSpec.mounts[].tmpfsOptions",
    {"sizeBytes": _set("SizeBytes", whole), "mode": _set("Mode", whole)},
)


def _volume_driver(key: str) -> Entry:
    # The provider nests driverName/driverOptions into VolumeOptions.DriverConfig.
    def apply(body: Body, value: Any) -> None:
        driver = body.setdefault("DriverConfig", {})
        driver[key] = value if key == "Name" else {name: str(item) for name, item in value.items()}

    return apply


VOLUME_OPTIONS_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.containerSpec.mounts[].volumeOptions",
    {
        "noCopy": _set("NoCopy", bool),
        "labels": _set("Labels", _labels("mounts[].volumeOptions.labels[]")),
        "driverName": _volume_driver("Name"),
        "driverOptions": _volume_driver("Options"),
    },
)
BIND_OPTIONS_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.containerSpec.mounts[].bindOptions", {"propagation": _set("Propagation")}
)
MOUNT_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.containerSpec.mounts[]",
    {
        "target": _set("Target"),
        "source": _set("Source"),
        "type": _set("Type"),
        "readOnly": _set("ReadOnly", bool),
        "bindOptions": _object("BindOptions", BIND_OPTIONS_TABLE, {"propagation": "rprivate"}),
        "volumeOptions": _object("VolumeOptions", VOLUME_OPTIONS_TABLE),
        "tmpfsOptions": _object("TmpfsOptions", TMPFS_OPTIONS_TABLE),
    },
)


def _file_reference(kind: str, where: str) -> PropertyTable[Body]:
    """Secrets and configs: the same file target (Name, UID, GID, Mode) under `<kind>Id` / `<kind>Name`."""

    def file_target(key: str, convert: Callable[[Any], Any] = str) -> Entry:
        return lambda body, value: body.setdefault("File", {}).__setitem__(key, convert(value))

    engine_kind = kind.capitalize()
    return PropertyTable(
        where,
        {
            f"{kind}Id": _set(f"{engine_kind}ID"),
            f"{kind}Name": _set(f"{engine_kind}Name"),
            "fileName": file_target("Name"),
            "fileUid": file_target("UID"),
            "fileGid": file_target("GID"),
            # os.FileMode(uint32(file_mode)): the decimal number on the wire (256 = 0o400) as is.
            "fileMode": file_target("Mode", whole),
        },
    )


SECRET_REFERENCE_TABLE = _file_reference("secret", "docker:Service.taskSpec.containerSpec.secrets[]")
CONFIG_REFERENCE_TABLE = _file_reference("config", "docker:Service.taskSpec.containerSpec.configs[]")
FILE_REFERENCE_DEFAULTS = {"fileUid": "0", "fileGid": "0", "fileMode": 0o444}

DNS_CONFIG_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.containerSpec.dnsConfig",
    {
        "nameservers": _set("Nameservers", _strings),
        "searches": _set("Search", _strings),
        "options": _set("Options", _strings),
    },
)
CREDENTIAL_SPEC_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.containerSpec.privileges.credentialSpec",
    # Exactly as the provider: its `registry` also lands in File (a bug there, kept so the engine sees the
    # same spec); Windows-only either way.
    {"file": _set("File"), "registry": _set("File")},
)
SELINUX_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.containerSpec.privileges.seLinuxContext",
    {
        "disable": _set("Disable", bool),
        "user": _set("User"),
        "role": _set("Role"),
        "type": _set("Type"),
        "level": _set("Level"),
    },
)
PRIVILEGES_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.containerSpec.privileges",
    {
        "credentialSpec": _object("CredentialSpec", CREDENTIAL_SPEC_TABLE),
        "seLinuxContext": _object("SELinuxContext", SELINUX_TABLE),
    },
)


def _hosts(body: Body, value: list[Mapping[str, str]]) -> None:
    for item in value:
        require_mapped("docker:Service.taskSpec.containerSpec.hosts[]", item, {"host", "ip"})
    # extraHostsSetToServiceExtraHosts: "<ip> <host>", the order Swarm's /etc/hosts lines use.
    body["Hosts"] = [f"{item['ip']} {item['host']}" for item in value]


def _env(body: Body, value: Mapping[str, Any]) -> None:
    # mapTypeMapValsToStringSlice: "K=V" for each map entry (Go's map order; sorted here, same set).
    body["Env"] = [f"{key}={item}" for key, item in sorted(value.items())]


CONTAINER_SPEC_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.containerSpec",
    {
        "image": _set("Image"),
        "labels": _set("Labels", _labels("containerSpec.labels[]")),
        "commands": _set("Command", _strings),  # replaces the image's ENTRYPOINT
        "args": _set("Args", _strings),
        "hostname": _set("Hostname"),
        "env": _env,
        "dir": _set("Dir"),
        "user": _set("User"),
        "groups": _set("Groups", _strings),
        "privileges": _object("Privileges", PRIVILEGES_TABLE),
        "readOnly": _set("ReadOnly", bool),
        "mounts": _objects("Mounts", MOUNT_TABLE),
        "stopSignal": _set("StopSignal"),
        "stopGracePeriod": _set("StopGracePeriod", go_duration_ns),
        "healthcheck": _object("Healthcheck", HEALTHCHECK_TABLE, HEALTHCHECK_DEFAULTS),
        "hosts": _hosts,
        "dnsConfig": _object("DNSConfig", DNS_CONFIG_TABLE),
        "secrets": _objects("Secrets", SECRET_REFERENCE_TABLE, FILE_REFERENCE_DEFAULTS),
        "configs": _objects("Configs", CONFIG_REFERENCE_TABLE, FILE_REFERENCE_DEFAULTS),
        "isolation": _set("Isolation"),
        "sysctl": _set("Sysctls", lambda value: {key: str(item) for key, item in value.items()}),
        # API 1.41 ContainerSpec.CapabilityAdd / CapabilityDrop.
        "capAdds": _set("CapabilityAdd", _strings),
        "capDrops": _set("CapabilityDrop", _strings),
    },
)
CONTAINER_SPEC_DEFAULTS = {"isolation": "default"}

# ----------------------------------------------------------------------------------------------- task spec

LIMITS_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.resources.limits",
    {"nanoCpus": _set("NanoCPUs", whole), "memoryBytes": _set("MemoryBytes", whole)},
)


def _generic_resources(body: Body, value: list[Mapping[str, Any]]) -> None:
    resources: list[Body] = []
    for item in value:
        require_mapped(
            "docker:Service.taskSpec.resources.reservation.genericResources[]",
            item,
            {"namedResourcesSpecs", "discreteResourcesSpecs"},
        )
        for spec in item.get("namedResourcesSpecs") or []:
            kind, _, named = str(spec).partition("=")
            resources.append({"NamedResourceSpec": {"Kind": kind, "Value": named}})
        for spec in item.get("discreteResourcesSpecs") or []:
            kind, _, count = str(spec).partition("=")
            resources.append({"DiscreteResourceSpec": {"Kind": kind, "Value": int(count)}})
    body["GenericResources"] = resources


RESERVATION_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.resources.reservation",
    {
        "nanoCpus": _set("NanoCPUs", whole),
        "memoryBytes": _set("MemoryBytes", whole),
        "genericResources": _generic_resources,
    },
)
RESOURCES_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.resources",
    {"limits": _object("Limits", LIMITS_TABLE), "reservation": _object("Reservations", RESERVATION_TABLE)},
)
RESTART_POLICY_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.restartPolicy",
    {
        "condition": _set("Condition"),
        "delay": _set("Delay", go_duration_ns),
        "maxAttempts": _set("MaxAttempts", whole),
        "window": _set("Window", go_duration_ns),
    },
)
PLATFORM_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.placement.platforms[]", {"architecture": _set("Architecture"), "os": _set("OS")}
)
PLACEMENT_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.placement",
    {
        "constraints": _set("Constraints", _strings),
        "prefs": _set(
            "Preferences", lambda value: [{"Spread": {"SpreadDescriptor": str(item)}} for item in value]
        ),
        "platforms": _objects("Platforms", PLATFORM_TABLE),
        "maxReplicas": _set("MaxReplicas", whole),
    },
)
NETWORK_ATTACHMENT_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.networksAdvanceds[]",
    {
        # The provider passes the name as Target and the engine resolves it; `resolve_networks` does
        # that resolution here so the spec names the network by ID, as the engine stores it.
        "name": _set("Target"),
        "aliases": _set("Aliases", _strings),
        "driverOpts": _set("DriverOpts", lambda value: dict(str(item).split("=", 1) for item in value)),
    },
)
LOG_DRIVER_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec.logDriver",
    {
        "name": _set("Name"),
        "options": _set("Options", lambda value: {key: str(item) for key, item in value.items()}),
    },
)
TASK_SPEC_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.taskSpec",
    {
        "containerSpec": _object("ContainerSpec", CONTAINER_SPEC_TABLE, CONTAINER_SPEC_DEFAULTS),
        "resources": _object("Resources", RESOURCES_TABLE),
        "restartPolicy": _object("RestartPolicy", RESTART_POLICY_TABLE),
        "placement": _object("Placement", PLACEMENT_TABLE),
        "forceUpdate": _set("ForceUpdate", whole),
        "runtime": _set("Runtime"),
        "networksAdvanceds": _objects("Networks", NETWORK_ATTACHMENT_TABLE),
        "logDriver": _object("LogDriver", LOG_DRIVER_TABLE),
    },
)

# ------------------------------------------------------------------------------------------- service spec


def _replicated(body: Body, value: Mapping[str, Any]) -> None:
    require_mapped("docker:Service.mode.replicated", value, {"replicas"})
    body["Replicated"] = {"Replicas": whole(value.get("replicas", 1))}


def _global(body: Body, value: bool) -> None:
    if value:
        body["Global"] = {}


MODE_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.mode", {"replicated": _replicated, "global": _global}
)


def _update_or_rollback(where: str) -> PropertyTable[Body]:
    """createUpdateOrRollbackConfig: durations to ns, the ratio's string to a float."""
    return PropertyTable(
        where,
        {
            "parallelism": _set("Parallelism", whole),
            "delay": _set("Delay", go_duration_ns),
            "failureAction": _set("FailureAction"),
            "monitor": _set("Monitor", go_duration_ns),
            "maxFailureRatio": _set("MaxFailureRatio", float),
            "order": _set("Order"),
        },
    )


UPDATE_CONFIG_DEFAULTS = {
    "parallelism": 1,
    "delay": "0s",
    "failureAction": "pause",
    "monitor": "5s",
    "maxFailureRatio": "0.0",
    "order": "stop-first",
}
PORT_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.endpointSpec.ports[]",
    {
        "name": _set("Name"),
        "protocol": _set("Protocol"),
        "targetPort": _set("TargetPort", whole),
        "publishedPort": _set("PublishedPort", whole),
        "publishMode": _set("PublishMode"),
    },
)
ENDPOINT_SPEC_TABLE: PropertyTable[Body] = PropertyTable(
    "docker:Service.endpointSpec",
    {
        "mode": _set("Mode"),
        "ports": _objects("Ports", PORT_TABLE, {"protocol": "tcp", "publishMode": "ingress"}),
    },
)


@dataclass
class ServicePlan:
    """The ServiceSpec body plus what the provider does around it (auth header, convergence)."""

    name: str
    spec: Body = field(default_factory=dict)
    converge: convergence.Converge | None = None


def _converge(plan: ServicePlan, value: Mapping[str, Any]) -> None:
    require_mapped("docker:Service.convergeConfig", value, {"delay", "timeout"})
    given = {"delay": "7s", "timeout": "3m", **value}  # the schema's defaults
    plan.converge = convergence.Converge(
        delay_seconds=go_duration_ns(given["delay"]) / 1e9,
        timeout_seconds=go_duration_ns(given["timeout"]) / 1e9,
    )


def _auth(plan: ServicePlan, value: Mapping[str, Any]) -> None:
    require_mapped("docker:Service.auth", value, {"serverAddress", "username", "password"})
    raise ApplyError(f"{plan.name}: auth for {value.get('serverAddress')}: no registry is reachable here")


def _spec(key: str, table: PropertyTable[Body], defaults: Mapping[str, Any] | None = None) -> Any:
    entry = _object(key, table, defaults)
    return lambda plan, value: entry(plan.spec, value)


SERVICE_TABLE: PropertyTable[ServicePlan] = PropertyTable(
    "docker:Service",
    {
        "name": lambda plan, value: setattr(plan, "name", value),
        "labels": lambda plan, value: plan.spec.__setitem__("Labels", label_map(value, "Service.labels[]")),
        "taskSpec": _spec("TaskTemplate", TASK_SPEC_TABLE),
        "mode": _spec("Mode", MODE_TABLE),
        "updateConfig": _spec(
            "UpdateConfig", _update_or_rollback("docker:Service.updateConfig"), UPDATE_CONFIG_DEFAULTS
        ),
        "rollbackConfig": _spec(
            "RollbackConfig", _update_or_rollback("docker:Service.rollbackConfig"), UPDATE_CONFIG_DEFAULTS
        ),
        "endpointSpec": _spec("EndpointSpec", ENDPOINT_SPEC_TABLE),
        "convergeConfig": _converge,
        "auth": _auth,
    },
)


def plan_service(logical_name: str, inputs: Mapping[str, Any]) -> ServicePlan:
    """The provider's createServiceSpec from the wire inputs (no engine call)."""
    plan = ServicePlan(name=logical_name)
    SERVICE_TABLE.apply(plan, inputs)
    if plan.converge is not None and "Global" in plan.spec.get("Mode", {}):
        raise ApplyError(f"{plan.name}: convergeConfig conflicts with mode.global (provider schema)")
    plan.spec["Name"] = plan.name
    plan.spec.setdefault("EndpointSpec", {})  # createServiceEndpointSpec always sends one
    plan.spec.setdefault("Labels", {})[E2E_LABEL] = "1"
    return plan


def resolve_networks(api: docker.APIClient, plan: ServicePlan) -> None:
    """Network names to IDs, as the engine does with a Target that is a name."""
    for attachment in plan.spec.get("TaskTemplate", {}).get("Networks", []):
        try:
            attachment["Target"] = api.inspect_network(attachment["Target"])["Id"]
        except docker.errors.APIError as error:
            raise ApplyError(
                f"{plan.name}: network {attachment['Target']}: {engine_message(error)}"
            ) from error


def _outputs(plan: ServicePlan, inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {**inputs, "name": plan.name}


def create_service(api: docker.APIClient, logical_name: str, inputs: Mapping[str, Any]) -> Created:
    plan = plan_service(logical_name, inputs)
    resolve_networks(api, plan)
    try:
        created = engine(
            api,
            "POST",
            "/services/create",
            body=plan.spec,
            headers={"X-Registry-Auth": EMPTY_REGISTRY_AUTH},
        )
    except docker.errors.APIError as error:
        # e.g. 503 "This node is not a swarm manager. Use "docker swarm init" or ..." verbatim.
        raise ApplyError(f"{plan.name}: {engine_message(error)}") from error
    service_id = str(created["ID"])
    if plan.converge is not None:
        try:
            convergence.wait_created(api, service_id, plan.name, plan.converge)
        except ApplyError:
            # The provider deletes a service that did not converge, then reports it.
            delete_service(api, service_id)
            raise
    return service_id, _outputs(plan, inputs)


def update_service(api: docker.APIClient, service_id: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """`docker service update` with the whole new spec and the current version index; Swarm rolls."""
    plan = plan_service(str(inputs.get("name") or ""), inputs)
    resolve_networks(api, plan)
    try:
        version = engine(api, "GET", "/services/{0}", service_id)["Version"]["Index"]
        engine(
            api,
            "POST",
            "/services/{0}/update",
            service_id,
            body=plan.spec,
            params={"version": version},
            headers={"X-Registry-Auth": EMPTY_REGISTRY_AUTH},
        )
    except docker.errors.APIError as error:
        raise ApplyError(f"{plan.name}: update: {engine_message(error)}") from error
    if plan.converge is not None:
        convergence.wait_updated(api, service_id, plan.name, plan.converge)
    return _outputs(plan, inputs)


def delete_service(api: docker.APIClient, service_id: str) -> None:
    """Removes the service, then waits until its task containers are gone (networks and volumes free)."""
    try:
        service = engine(api, "GET", "/services/{0}", service_id)
    except docker.errors.NotFound:
        return
    containers = convergence.task_containers(api, service_id)
    try:
        engine(api, "DELETE", "/services/{0}", service_id)
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as error:
        raise ApplyError(f"service {service_id}: {engine_message(error)}") from error
    container_spec = service["Spec"].get("TaskTemplate", {}).get("ContainerSpec", {})
    grace = container_spec.get("StopGracePeriod", 10 * 10**9) / 1e9  # the engine's default is 10 s
    deadline = time.monotonic() + grace + REMOVE_MARGIN_SECONDS
    remaining = list(containers)
    while remaining and time.monotonic() < deadline:
        remaining = [container_id for container_id in remaining if _exists(api, container_id)]
        if remaining:
            time.sleep(0.5)
    for container_id in remaining:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(container_id, v=True, force=True)


def _exists(api: docker.APIClient, container_id: str) -> bool:
    try:
        api.inspect_container(container_id)
    except docker.errors.NotFound:
        return False
    return True
