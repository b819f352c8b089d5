"""Docker resources (pulumi-docker 4.11 wire names) applied through the Engine API, one mapping per property.

Each table below is the complete list of inputs the harness understands for one resource type; an input
missing from it fails the deploy by name (see `properties.PropertyTable`). Container creation follows the
provider's order: create, connect further networks, upload files (before start), start, then wait/attach.
"""

from __future__ import annotations

import base64
import io
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors

from tests.e2e.properties import (
    NoEffect,
    PropertyTable,
    go_duration_ns,
    label_map,
    megabytes,
    require_mapped,
)

E2E_LABEL = "pap.e2e"
FRESH_ENGINE = NoEffect(
    "read/refresh tuning of the provider; a create on a fresh engine has nothing to refresh"
)


class ApplyError(Exception):
    """The engine refused what the program declared, or a declared wait/attach condition was not met."""


# ------------------------------------------------------------------------------------------------- networks


@dataclass
class NetworkSpec:
    name: str
    body: dict[str, Any] = field(default_factory=lambda: {"CheckDuplicate": True})


def _ipam_configs(spec: NetworkSpec, value: list[Mapping[str, Any]]) -> None:
    ipam = spec.body.setdefault("IPAM", {"Driver": "default", "Options": {}})
    ipam["Config"] = []
    for item in value:
        require_mapped("Network.ipamConfigs[]", item, {"subnet", "gateway", "ipRange", "auxAddress"})
        ipam["Config"].append(
            {
                key: item[source]
                for key, source in (
                    ("Subnet", "subnet"),
                    ("Gateway", "gateway"),
                    ("IPRange", "ipRange"),
                    ("AuxiliaryAddresses", "auxAddress"),
                )
                if item.get(source)
            }
        )


def _body(key: str, convert: Callable[[Any], Any] = lambda value: value) -> Callable[[Any, Any], None]:
    return lambda spec, value: spec.body.__setitem__(key, convert(value))


NETWORK_TABLE: PropertyTable[NetworkSpec] = PropertyTable(
    "docker:Network",
    {
        "name": lambda spec, value: setattr(spec, "name", value),
        "driver": _body("Driver"),
        "internal": _body("Internal", bool),
        "attachable": _body("Attachable", bool),
        "ingress": _body("Ingress", bool),
        "ipv6": _body("EnableIPv6", bool),
        "options": _body("Options", dict),
        "labels": lambda spec, value: spec.body.setdefault("Labels", {}).update(label_map(value)),
        "ipamDriver": lambda spec, value: spec.body.setdefault("IPAM", {"Options": {}}).__setitem__(
            "Driver", value
        ),
        "ipamOptions": lambda spec, value: spec.body.setdefault("IPAM", {"Driver": "default"}).__setitem__(
            "Options", dict(value)
        ),
        "ipamConfigs": _ipam_configs,
    },
)


def create_network(api: docker.APIClient, logical_name: str, inputs: Mapping[str, Any]) -> tuple[str, dict]:
    # Without `name` the Pulumi engine auto-names from the logical name; the harness uses the logical name.
    spec = NetworkSpec(name=logical_name)
    NETWORK_TABLE.apply(spec, inputs)
    spec.body.setdefault("Labels", {})[E2E_LABEL] = "1"
    response = api._post_json(api._url("/networks/create"), data={"Name": spec.name, **spec.body})
    network_id = api._result(response, json=True)["Id"]
    created = api.inspect_network(network_id)
    # Computed by the engine and read back by the provider: the program may use the assigned subnet.
    ipam = created.get("IPAM") or {}
    ipam_configs = [
        {
            key: value
            for key, value in (
                ("subnet", item.get("Subnet")),
                ("gateway", item.get("Gateway")),
                ("ipRange", item.get("IPRange")),
                ("auxAddress", item.get("AuxiliaryAddresses")),
            )
            if value
        }
        for item in ipam.get("Config") or []
    ]
    return network_id, {
        **inputs,
        "name": spec.name,
        "scope": created["Scope"],
        "driver": created["Driver"],
        "ipamDriver": ipam.get("Driver", "default"),
        "ipamConfigs": ipam_configs,
        "internal": created["Internal"],
    }


# -------------------------------------------------------------------------------------------------- volumes


@dataclass
class VolumeSpec:
    name: str
    driver: str = "local"
    driver_opts: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


VOLUME_TABLE: PropertyTable[VolumeSpec] = PropertyTable(
    "docker:Volume",
    {
        "name": lambda spec, value: setattr(spec, "name", value),
        "driver": lambda spec, value: setattr(spec, "driver", value),
        "driverOpts": lambda spec, value: spec.driver_opts.update(value),
        "labels": lambda spec, value: spec.labels.update(label_map(value)),
    },
)


def create_volume(api: docker.APIClient, logical_name: str, inputs: Mapping[str, Any]) -> tuple[str, dict]:
    spec = VolumeSpec(name=logical_name)
    VOLUME_TABLE.apply(spec, inputs)
    volume = api.create_volume(
        name=spec.name,
        driver=spec.driver,
        driver_opts=spec.driver_opts,
        labels={**spec.labels, E2E_LABEL: "1"},
    )
    return volume["Name"], {**inputs, "name": volume["Name"], "mountpoint": volume["Mountpoint"]}


# --------------------------------------------------------------------------------------------------- images


@dataclass
class BuildSpec:
    context: Path
    tag: str
    dockerfile: str = "Dockerfile"
    buildargs: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    extra_tags: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


def _option(key: str) -> Callable[[BuildSpec, Any], None]:
    return lambda spec, value: spec.options.__setitem__(key, value)


def _no_pull(spec: BuildSpec, value: bool) -> None:
    if value:
        raise ApplyError("build.pullParent=true: no registry is reachable here, the base image is local")


def _legacy_builder_only(spec: BuildSpec, value: str) -> None:
    # docker-py drives the classic builder only; asking for BuildKit (or a named buildx builder) must not be
    # silently downgraded.
    if value not in ("1", "BuilderV1", "default"):
        raise ApplyError(
            f"{spec.tag}: builder {value!r} requested; the harness builds with the classic builder only"
        )


REMOTE_BUILD_TABLE: PropertyTable[BuildSpec] = PropertyTable(
    "docker:RemoteImage.build",
    {
        "context": NoEffect("resolved before the table is applied (the build context directory)"),
        "dockerfile": lambda spec, value: setattr(spec, "dockerfile", value),
        "buildArgs": lambda spec, value: spec.buildargs.update(value),
        "labels": lambda spec, value: spec.labels.update(value),
        "label": lambda spec, value: spec.labels.update(value),
        "tags": lambda spec, value: spec.extra_tags.extend(value),
        "target": _option("target"),
        "noCache": _option("nocache"),
        "remove": _option("rm"),
        "forceRemove": _option("forcerm"),
        "pullParent": _no_pull,
        "platform": _option("platform"),
        "networkMode": _option("network_mode"),
        "shmSize": _option("shmsize"),
        "extraHosts": lambda spec, value: spec.options.__setitem__(
            "extra_hosts", dict(host.split(":", 1) for host in value)
        ),
        "cacheFroms": _option("cache_from"),
        "squash": _option("squash"),
        "isolation": _option("isolation"),
        "memory": _option("_memory"),
        "memorySwap": _option("_memswap"),
        "cpuShares": _option("_cpushares"),
        "cpuSetCpus": _option("_cpusetcpus"),
        "suppressOutput": NoEffect("output verbosity of the provider"),
        "buildId": NoEffect("an id to cancel a running build from another client"),
        "version": _legacy_builder_only,
        "builder": _legacy_builder_only,
    },
)
IMAGE_V4_BUILD_TABLE: PropertyTable[BuildSpec] = PropertyTable(
    "docker:Image.build",
    {
        "context": NoEffect("resolved before the table is applied (the build context directory)"),
        "dockerfile": NoEffect("resolved before the table is applied (relative to the project directory)"),
        "args": lambda spec, value: spec.buildargs.update(value),
        "target": _option("target"),
        "platform": _option("platform"),
        "network": _option("network_mode"),
        "addHosts": lambda spec, value: spec.options.__setitem__(
            "extra_hosts", dict(host.split(":", 1) for host in value)
        ),
        "cacheFrom": lambda spec, value: spec.options.__setitem__(
            "cache_from", list(value.get("images", []))
        ),
        "builderVersion": _legacy_builder_only,
    },
)


def _container_limits(options: dict[str, Any]) -> dict[str, Any]:
    limits = {
        "memory": options.pop("_memory", None),
        "memswap": options.pop("_memswap", None),
        "cpushares": options.pop("_cpushares", None),
        "cpusetcpus": options.pop("_cpusetcpus", None),
    }
    return {key: value for key, value in limits.items() if value is not None}


@dataclass(frozen=True)
class BuildRecord:
    """One image build: how long it took and whether every step came from the engine's cache."""

    tag: str
    image_id: str
    seconds: float
    cached: bool


def build_image(api: docker.APIClient, spec: BuildSpec, builds: list[BuildRecord] | None = None) -> str:
    """Builds with the classic builder (docker-py) and returns the image ID ("sha256:...")."""
    started = time.monotonic()
    limits = _container_limits(spec.options)
    log: list[str] = []
    image_id = ""
    for chunk in api.build(
        path=str(spec.context),
        dockerfile=spec.dockerfile,
        tag=spec.tag,
        buildargs=spec.buildargs,
        labels=spec.labels or None,
        decode=True,
        container_limits=limits or None,
        **spec.options,
    ):
        if "stream" in chunk:
            log.append(chunk["stream"])
        if "aux" in chunk and "ID" in chunk["aux"]:
            image_id = chunk["aux"]["ID"]
        if "error" in chunk:
            tail = "".join(log)[-3000:]
            raise ApplyError(f"building {spec.tag} from {spec.context}: {chunk['error']}\n{tail}")
    if not image_id:
        image_id = api.inspect_image(spec.tag)["Id"]
    for extra in spec.extra_tags:
        repository, _, tag = extra.rpartition(":") if ":" in extra.split("/")[-1] else (extra, "", "latest")
        api.tag(image_id, repository, tag or "latest")
    if builds is not None:
        # The classic builder prints "Running in <id>" for every step it executes instead of reusing.
        cached = not any(line.startswith(" ---> Running in") for line in log)
        builds.append(BuildRecord(spec.tag, image_id, time.monotonic() - started, cached))
    return image_id


@dataclass
class RemoteImageSpec:
    name: str = ""
    build: dict[str, Any] | None = None
    platform: str | None = None


REMOTE_IMAGE_TABLE: PropertyTable[RemoteImageSpec] = PropertyTable(
    "docker:RemoteImage",
    {
        "name": lambda spec, value: setattr(spec, "name", value),
        "build": lambda spec, value: setattr(spec, "build", dict(value)),
        "platform": lambda spec, value: setattr(spec, "platform", value),
        "keepLocally": NoEffect(
            "only decides whether `pulumi destroy` deletes the image; e2e keeps images warm"
        ),
        "forceRemove": NoEffect("only used when the provider deletes the image on destroy"),
        "triggers": NoEffect("replacement triggers for later updates; a fresh deploy builds once"),
        "pullTriggers": NoEffect("re-pull triggers for later updates; nothing is pulled here"),
    },
)


def create_remote_image(
    api: docker.APIClient,
    project_dir: Path,
    logical_name: str,
    inputs: Mapping[str, Any],
    builds: list[BuildRecord] | None = None,
) -> tuple[str, dict]:
    spec = RemoteImageSpec()
    REMOTE_IMAGE_TABLE.apply(spec, inputs)
    if spec.build is None:
        # No registry is reachable: an image without a build must already be in the local cache.
        try:
            image_id = api.inspect_image(spec.name)["Id"]
        except docker.errors.ImageNotFound as error:
            raise ApplyError(
                f"{logical_name}: image {spec.name} is not local and cannot be pulled"
            ) from error
    else:
        build = BuildSpec(context=(project_dir / spec.build["context"]).resolve(), tag=spec.name)
        REMOTE_BUILD_TABLE.apply(build, spec.build)
        if spec.platform:
            build.options.setdefault("platform", spec.platform)
        image_id = build_image(api, build, builds)
    digests = api.inspect_image(image_id).get("RepoDigests") or []
    return f"{image_id}{spec.name}", {
        **inputs,
        "imageId": image_id,
        "repoDigest": digests[0] if digests else "",
    }


@dataclass
class ImageV4Spec:
    image_name: str = ""
    build: dict[str, Any] = field(default_factory=dict)
    skip_push: bool = False


def _registry(spec: ImageV4Spec, value: Mapping[str, Any]) -> None:
    require_mapped("docker:Image.registry", value, {"server", "username", "password"})


IMAGE_V4_TABLE: PropertyTable[ImageV4Spec] = PropertyTable(
    "docker:Image",
    {
        "imageName": lambda spec, value: setattr(spec, "image_name", value),
        "build": lambda spec, value: setattr(spec, "build", dict(value)),
        "skipPush": lambda spec, value: setattr(spec, "skip_push", bool(value)),
        "registry": _registry,
        "buildOnPreview": NoEffect("only matters during `pulumi preview`; this is an update"),
    },
)


def create_image_v4(
    api: docker.APIClient,
    project_dir: Path,
    logical_name: str,
    inputs: Mapping[str, Any],
    builds: list[BuildRecord] | None = None,
) -> tuple[str, dict]:
    spec = ImageV4Spec()
    IMAGE_V4_TABLE.apply(spec, inputs)
    if not spec.skip_push:
        raise ApplyError(
            f"{logical_name}: docker:Image without skipPush would push; no registry is reachable"
        )
    context = (project_dir / spec.build.get("context", ".")).resolve()
    dockerfile = (project_dir / spec.build["dockerfile"]).resolve() if "dockerfile" in spec.build else None
    build = BuildSpec(
        context=context,
        tag=spec.image_name,
        dockerfile=str(dockerfile.relative_to(context)) if dockerfile else "Dockerfile",
    )
    IMAGE_V4_BUILD_TABLE.apply(build, spec.build)
    build_image(api, build, builds)
    return spec.image_name, {
        **inputs,
        "imageName": spec.image_name,
        "repoDigest": "",  # the provider fills it only after a push
        "baseImageName": spec.image_name,
        "context": str(context),
        "dockerfile": str(context / build.dockerfile),
        "platform": build.options.get("platform", ""),
        "registryServer": "",
    }


# ----------------------------------------------------------------------------------------------- containers


@dataclass
class ContainerPlan:
    """The Engine API create body plus what the provider does around create (uploads, start, waits)."""

    name: str
    config: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)
    networks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    uploads: list[tuple[str, bytes, int]] = field(default_factory=list)
    start: bool = True
    attach: bool = False
    logs: bool = False
    must_run: bool = True
    wait: bool = False
    wait_timeout: int = 60
    remove_volumes: bool = True
    destroy_grace_seconds: int = 0


def _config(
    key: str, convert: Callable[[Any], Any] = lambda value: value
) -> Callable[[ContainerPlan, Any], None]:
    return lambda plan, value: plan.config.__setitem__(key, convert(value))


def _host(
    key: str, convert: Callable[[Any], Any] = lambda value: value
) -> Callable[[ContainerPlan, Any], None]:
    return lambda plan, value: plan.host.__setitem__(key, convert(value))


def _plan(
    attribute: str, convert: Callable[[Any], Any] = lambda value: value
) -> Callable[[ContainerPlan, Any], None]:
    return lambda plan, value: setattr(plan, attribute, convert(value))


_HEALTHCHECK_KEYS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "tests": ("Test", list),
    "interval": ("Interval", go_duration_ns),
    "timeout": ("Timeout", go_duration_ns),
    "startPeriod": ("StartPeriod", go_duration_ns),
    "startInterval": ("StartInterval", go_duration_ns),
    "retries": ("Retries", int),
}


def _healthcheck(plan: ContainerPlan, value: Mapping[str, Any]) -> None:
    require_mapped("Container.healthcheck", value, _HEALTHCHECK_KEYS)
    plan.config["Healthcheck"] = {
        key: convert(value[name]) for name, (key, convert) in _HEALTHCHECK_KEYS.items() if name in value
    }


def _capabilities(plan: ContainerPlan, value: Mapping[str, Any]) -> None:
    require_mapped("Container.capabilities", value, {"adds", "drops"})
    plan.host["CapAdd"] = list(value.get("adds") or [])
    plan.host["CapDrop"] = list(value.get("drops") or [])


def _restart(plan: ContainerPlan, value: str) -> None:
    plan.host.setdefault("RestartPolicy", {})["Name"] = value


def _max_retry_count(plan: ContainerPlan, value: int) -> None:
    plan.host.setdefault("RestartPolicy", {})["MaximumRetryCount"] = int(value)


def _log_driver(plan: ContainerPlan, value: str) -> None:
    plan.host.setdefault("LogConfig", {"Config": {}})["Type"] = value


def _log_opts(plan: ContainerPlan, value: Mapping[str, str]) -> None:
    plan.host.setdefault("LogConfig", {"Type": "json-file"})["Config"] = dict(value)


def _ports(plan: ContainerPlan, value: list[Mapping[str, Any]]) -> None:
    exposed: dict[str, dict] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for port in value:
        require_mapped("Container.ports[]", port, {"internal", "external", "ip", "protocol"})
        key = f"{int(port['internal'])}/{port.get('protocol') or 'tcp'}"
        exposed[key] = {}
        # The provider's default host IP is 0.0.0.0; external unset lets the engine choose a port.
        # Numbers arrive as floats over the wire (protobuf doubles): the engine wants "8443", not "8443.0".
        external = str(int(port["external"])) if port.get("external") else ""
        binding = {"HostIp": port.get("ip") or "0.0.0.0", "HostPort": external}  # noqa: S104
        bindings.setdefault(key, []).append(binding)
    plan.config["ExposedPorts"] = exposed
    plan.host["PortBindings"] = bindings


_MOUNT_KEYS = {"target", "type", "source", "readOnly", "bindOptions", "volumeOptions", "tmpfsOptions"}


def _mounts(plan: ContainerPlan, value: list[Mapping[str, Any]]) -> None:
    mounts = []
    for item in value:
        require_mapped("Container.mounts[]", item, _MOUNT_KEYS)
        mount: dict[str, Any] = {
            "Target": item["target"],
            "Type": item["type"],
            "Source": item.get("source", ""),
        }
        if "readOnly" in item:
            mount["ReadOnly"] = bool(item["readOnly"])
        if item.get("bindOptions"):
            require_mapped("Container.mounts[].bindOptions", item["bindOptions"], {"propagation"})
            mount["BindOptions"] = {"Propagation": item["bindOptions"].get("propagation", "")}
        if item.get("volumeOptions"):
            options = item["volumeOptions"]
            require_mapped(
                "Container.mounts[].volumeOptions",
                options,
                {"noCopy", "labels", "driverName", "driverOptions", "subpath"},
            )
            volume_options: dict[str, Any] = {
                "NoCopy": bool(options.get("noCopy", False)),
                "Labels": label_map(options.get("labels") or []),
            }
            if "driverName" in options or "driverOptions" in options:
                volume_options["DriverConfig"] = {
                    "Name": options.get("driverName", ""),
                    "Options": dict(options.get("driverOptions") or {}),
                }
            if options.get("subpath"):
                volume_options["Subpath"] = options["subpath"]
            mount["VolumeOptions"] = volume_options
        if item.get("tmpfsOptions"):
            require_mapped("Container.mounts[].tmpfsOptions", item["tmpfsOptions"], {"sizeBytes", "mode"})
            mount["TmpfsOptions"] = {
                key: int(item["tmpfsOptions"][source])
                for key, source in (("SizeBytes", "sizeBytes"), ("Mode", "mode"))
                if source in item["tmpfsOptions"]
            }
        mounts.append(mount)
    plan.host["Mounts"] = mounts


def _volumes(plan: ContainerPlan, value: list[Mapping[str, Any]]) -> None:
    binds: list[str] = []
    volumes_from: list[str] = []
    anonymous: dict[str, dict] = {}
    for item in value:
        require_mapped(
            "Container.volumes[]",
            item,
            {"containerPath", "hostPath", "volumeName", "readOnly", "fromContainer"},
        )
        if item.get("fromContainer"):
            volumes_from.append(item["fromContainer"])
            continue
        source = item.get("hostPath") or item.get("volumeName")
        mode = ":ro" if item.get("readOnly") else ""
        if source:
            binds.append(f"{source}:{item['containerPath']}{mode}")
        else:
            anonymous[item["containerPath"]] = {}
    plan.host["Binds"] = binds
    plan.host["VolumesFrom"] = volumes_from
    plan.config["Volumes"] = anonymous


def _networks_advanced(plan: ContainerPlan, value: list[Mapping[str, Any]]) -> None:
    for item in value:
        require_mapped(
            "Container.networksAdvanced[]",
            item,
            {"name", "aliases", "ipv4Address", "ipv6Address", "macAddress"},
        )
        endpoint: dict[str, Any] = {"Aliases": list(item.get("aliases") or [])}
        addresses = {
            key: item[source]
            for key, source in (("IPv4Address", "ipv4Address"), ("IPv6Address", "ipv6Address"))
            if item.get(source)
        }
        if addresses:
            endpoint["IPAMConfig"] = addresses
        if item.get("macAddress"):
            endpoint["MacAddress"] = item["macAddress"]
        plan.networks.append((item["name"], endpoint))


def _uploads(plan: ContainerPlan, value: list[Mapping[str, Any]]) -> None:
    for item in value:
        require_mapped(
            "Container.uploads[]",
            item,
            {"file", "content", "contentBase64", "source", "sourceHash", "executable", "permissions"},
        )
        given = [name for name in ("content", "contentBase64", "source") if item.get(name)]
        if len(given) != 1:
            raise ApplyError(
                f"upload {item['file']}: exactly one of content/contentBase64/source, got {given}"
            )
        if item.get("content"):
            data = str(item["content"]).encode()
        elif item.get("contentBase64"):
            data = base64.b64decode(item["contentBase64"])
        else:
            data = Path(item["source"]).read_bytes()
        # The provider: `permissions` (octal string) has precedence over `executable` (0744), default 0644.
        mode = (
            int(item["permissions"], 8)
            if item.get("permissions")
            else 0o744
            if item.get("executable")
            else 0o644
        )
        plan.uploads.append((item["file"], data, mode))


def _labels(plan: ContainerPlan, value: list[Mapping[str, str]]) -> None:
    plan.config["Labels"] = label_map(value)


def _cpus(plan: ContainerPlan, value: str) -> None:
    plan.host["NanoCpus"] = round(float(value) * 1e9)


def _hosts(plan: ContainerPlan, value: list[Mapping[str, str]]) -> None:
    for item in value:
        require_mapped("Container.hosts[]", item, {"host", "ip"})
    plan.host["ExtraHosts"] = [f"{item['host']}:{item['ip']}" for item in value]


def _ulimits(plan: ContainerPlan, value: list[Mapping[str, Any]]) -> None:
    for item in value:
        require_mapped("Container.ulimits[]", item, {"name", "soft", "hard"})
    plan.host["Ulimits"] = [
        {"Name": item["name"], "Soft": int(item["soft"]), "Hard": int(item["hard"])} for item in value
    ]


def _devices(plan: ContainerPlan, value: list[Mapping[str, str]]) -> None:
    for item in value:
        require_mapped("Container.devices[]", item, {"hostPath", "containerPath", "permissions"})
    plan.host["Devices"] = [
        {
            "PathOnHost": item["hostPath"],
            "PathInContainer": item.get("containerPath") or item["hostPath"],
            "CgroupPermissions": item.get("permissions") or "rwm",
        }
        for item in value
    ]


CONTAINER_TABLE: PropertyTable[ContainerPlan] = PropertyTable(
    "docker:Container",
    {
        # what runs
        "image": _config("Image"),
        "name": _plan("name"),
        "command": _config("Cmd", list),
        "entrypoints": _config("Entrypoint", list),
        "envs": _config("Env", list),
        "workingDir": _config("WorkingDir"),
        "user": _config("User"),
        "labels": _labels,
        "hostname": _config("Hostname"),
        "domainname": _config("Domainname"),
        "tty": _config("Tty", bool),
        "stdinOpen": _config("OpenStdin", bool),
        "stopSignal": _config("StopSignal"),
        "stopTimeout": _config("StopTimeout", int),
        "healthcheck": _healthcheck,
        # limits
        "memory": _host("Memory", megabytes),
        "memorySwap": _host("MemorySwap", megabytes),
        "memoryReservation": _host("MemoryReservation", megabytes),
        "shmSize": _host("ShmSize", megabytes),
        "cpus": _cpus,
        "cpuShares": _host("CpuShares", int),
        "cpuSet": _host("CpusetCpus"),
        "cpuPeriod": _host("CpuPeriod", int),
        "cpuQuota": _host("CpuQuota", int),
        "ulimits": _ulimits,
        # isolation and privileges
        "readOnly": _host("ReadonlyRootfs", bool),
        "privileged": _host("Privileged", bool),
        "capabilities": _capabilities,
        "securityOpts": _host("SecurityOpt", list),
        "groupAdds": _host("GroupAdd", list),
        "init": _host("Init", bool),
        "ipcMode": _host("IpcMode"),
        "pidMode": _host("PidMode"),
        "usernsMode": _host("UsernsMode"),
        "cgroupnsMode": _host("CgroupnsMode"),
        "cgroupParent": _host("CgroupParent"),
        "runtime": _host("Runtime"),
        "sysctls": _host("Sysctls", dict),
        "devices": _devices,
        # filesystems
        "tmpfs": _host("Tmpfs", dict),
        "mounts": _mounts,
        "volumes": _volumes,
        "uploads": _uploads,
        # network
        "ports": _ports,
        "publishAllPorts": _host("PublishAllPorts", bool),
        "networkMode": _host("NetworkMode"),
        "networksAdvanced": _networks_advanced,
        "dns": _host("Dns", list),
        "dnsOpts": _host("DnsOptions", list),
        "dnsSearches": _host("DnsSearch", list),
        "hosts": _hosts,
        # lifecycle
        "restart": _restart,
        "maxRetryCount": _max_retry_count,
        "rm": _host("AutoRemove", bool),
        "logDriver": _log_driver,
        "logOpts": _log_opts,
        "start": _plan("start", bool),
        "attach": _plan("attach", bool),
        "logs": _plan("logs", bool),
        "mustRun": _plan("must_run", bool),
        "wait": _plan("wait", bool),
        "waitTimeout": _plan("wait_timeout", int),
        "removeVolumes": _plan("remove_volumes", bool),
        "destroyGraceSeconds": _plan("destroy_grace_seconds", int),
        "containerReadRefreshTimeoutMilliseconds": FRESH_ENGINE,
    },
)


def _upload_archive(path: str, data: bytes, mode: int) -> bytes:
    """One tar entry named by the absolute path, owned root:root, as the provider writes it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        entry = tarfile.TarInfo(path)
        entry.size = len(data)
        entry.mode = mode
        entry.uid = entry.gid = 0
        entry.mtime = int(time.time())
        archive.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class WaitLimits:
    """Bounds the harness puts on the provider's waits, so a broken container fails fast."""

    attach_seconds: int = 300
    must_run_seconds: float = 1.0


def create_container(
    api: docker.APIClient,
    logical_name: str,
    inputs: Mapping[str, Any],
    limits: WaitLimits,
    on_created: Callable[[str, ContainerPlan], None],
) -> tuple[str, dict]:
    """`on_created` learns the ID right after create, so a later failure still leaves it removable."""
    plan = ContainerPlan(name=logical_name)
    CONTAINER_TABLE.apply(plan, inputs)
    plan.config.setdefault("Labels", {})[E2E_LABEL] = "1"
    if plan.networks:
        first_network, first_endpoint = plan.networks[0]
        plan.host.setdefault("NetworkMode", first_network)
        networking = {"EndpointsConfig": {first_network: first_endpoint}}
    else:
        networking = {}
    body = {**plan.config, "HostConfig": plan.host, "NetworkingConfig": networking}
    container_id = api.create_container_from_config(body, name=plan.name)["Id"]
    on_created(container_id, plan)
    try:
        for network, endpoint in plan.networks[1:]:
            api._result(
                api._post_json(
                    api._url("/networks/{0}/connect", network),
                    data={"Container": container_id, "EndpointConfig": endpoint},
                ),
            )
        for path, data, mode in plan.uploads:
            # The provider's exact call: extract at "/" with the entry named by the absolute path.
            api.put_archive(container_id, "/", _upload_archive(path, data, mode))
        logs = ""
        if plan.start:
            api.start(container_id)
            if plan.attach:
                logs = _wait_for_exit(api, plan, container_id, limits)
            elif plan.wait:
                _wait_for_healthy(api, plan, container_id)
            elif plan.must_run:
                _require_running(api, plan, container_id, limits)
    except Exception as error:
        raise ApplyError(f"{logical_name}: {error}\n{_tail_logs(api, container_id)}") from error
    state = api.inspect_container(container_id)
    outputs: dict[str, Any] = {
        **inputs,
        "name": plan.name,
        "bridge": state["NetworkSettings"].get("Bridge", ""),
        "networkDatas": [
            {
                "networkName": network,
                "ipAddress": settings.get("IPAddress", ""),
                "ipPrefixLength": settings.get("IPPrefixLen", 0),
                "gateway": settings.get("Gateway", ""),
                "macAddress": settings.get("MacAddress", ""),
                "globalIpv6Address": settings.get("GlobalIPv6Address", ""),
                "globalIpv6PrefixLength": settings.get("GlobalIPv6PrefixLen", 0),
                "ipv6Gateway": settings.get("IPv6Gateway", ""),
            }
            for network, settings in (state["NetworkSettings"].get("Networks") or {}).items()
        ],
    }
    if not state["State"]["Running"]:
        outputs["exitCode"] = state["State"]["ExitCode"]
    if plan.logs:
        outputs["containerLogs"] = logs
    return container_id, outputs


def _tail_logs(api: docker.APIClient, container_id: str) -> str:
    try:
        return api.logs(container_id, tail=30).decode(errors="replace")
    except docker.errors.APIError:
        return ""


def _wait_for_exit(api: docker.APIClient, plan: ContainerPlan, container_id: str, limits: WaitLimits) -> str:
    # A one-shot container: the provider waits for it to stop; the harness also insists on success.
    result = api.wait(container_id, timeout=limits.attach_seconds)
    logs = api.logs(container_id).decode(errors="replace")
    if result.get("StatusCode") != 0:
        raise ApplyError(f"one-shot container {plan.name} exited with {result.get('StatusCode')}")
    return logs


def _wait_for_healthy(api: docker.APIClient, plan: ContainerPlan, container_id: str) -> None:
    deadline = time.monotonic() + plan.wait_timeout
    status = "no healthcheck"
    while time.monotonic() < deadline:
        state = api.inspect_container(container_id)["State"]
        status = (state.get("Health") or {}).get("Status", "no healthcheck")
        if status == "healthy":
            return
        if not state["Running"] and not state.get("Restarting"):
            raise ApplyError(f"{plan.name} stopped (exit {state['ExitCode']}) while waiting for healthy")
        time.sleep(0.5)
    raise ApplyError(f"{plan.name} not healthy within waitTimeout={plan.wait_timeout}s (last: {status})")


def _require_running(
    api: docker.APIClient, plan: ContainerPlan, container_id: str, limits: WaitLimits
) -> None:
    # mustRun: the provider fails a container that exits right after start.
    time.sleep(limits.must_run_seconds)
    state = api.inspect_container(container_id)["State"]
    if not state["Running"]:
        raise ApplyError(
            f"{plan.name} is not running after start (exit {state['ExitCode']}) and mustRun is set"
        )
