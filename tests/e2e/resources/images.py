"""docker:index/remoteImage:RemoteImage (and the v4 docker:index/image:Image), built on the engine.

No registry is reachable on these machines: an image without a build must already be local, and a build's
base image is local too (tools/docker-engine.sh).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors

from tests.e2e.properties import NoEffect, PropertyTable, require_mapped
from tests.e2e.resources.common import ApplyError, Created


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
        "keepLocally": NoEffect("read on delete (delete_remote_image): whether the image is removed"),
        "forceRemove": NoEffect("read on delete (delete_remote_image): `docker rmi --force`"),
        "triggers": NoEffect("no engine call: a changed trigger replaces the image (harness.UPDATE_RULES)"),
        "pullTriggers": NoEffect("no engine call: a change replaces the image; nothing is pulled here"),
    },
)


def create_remote_image(
    api: docker.APIClient,
    project_dir: Path,
    logical_name: str,
    inputs: Mapping[str, Any],
    builds: list[BuildRecord] | None = None,
) -> Created:
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


def delete_remote_image(api: docker.APIClient, outputs: Mapping[str, Any]) -> None:
    """The provider removes the image on delete unless `keepLocally` (`forceRemove`: `rmi --force`)."""
    if outputs.get("keepLocally"):
        return
    with contextlib.suppress(docker.errors.NotFound):
        api.remove_image(outputs["imageId"], force=bool(outputs.get("forceRemove")))


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
) -> Created:
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
