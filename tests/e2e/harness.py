"""A Pulumi mock runtime that APPLIES every resource the program registers onto the real Docker engine.

`ApplyingMocks.new_resource` receives each resource with its recorded inputs (wire names) exactly as the
engine would hand them to the provider, creates it through the Docker Engine API (or generates real key
material / random values) and returns real outputs, so later resources see real IDs and names. Anything
it creates carries `pap.e2e=1` besides the program's labels, and `remove_all` deletes it again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pulumi
from pulumi.runtime import rpc

from tests.e2e import docker_resources, keys

log = logging.getLogger("pap.e2e.harness")

Applier = Callable[[str, Mapping[str, Any]], tuple[str, dict[str, Any]]]


class UnmappedResourceError(Exception):
    """A resource type the harness cannot apply: the deploy would silently miss it."""


@dataclass
class Registered:
    """One resource as the program registered it and as the harness applied it."""

    type: str
    name: str
    inputs: dict[str, Any]
    id: str
    outputs: dict[str, Any]


@dataclass
class Ledger:
    """What the harness created, in creation order, so it can be removed in reverse."""

    containers: list[tuple[str, bool, int]] = field(default_factory=list)  # id, removeVolumes, grace seconds
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    builds: list[docker_resources.BuildRecord] = field(default_factory=list)
    resources: list[Registered] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ApplyingMocks(pulumi.runtime.Mocks):
    """Creates each registered resource for real; see the module docstring."""

    def __init__(self, project_dir: Path, limits: docker_resources.WaitLimits | None = None) -> None:
        self.project_dir = project_dir
        self.limits = limits or docker_resources.WaitLimits()
        self.ledger = Ledger()
        self._appliers: dict[str, Applier] = {
            "docker:index/network:Network": lambda name, inputs: self._track(
                "networks", docker_resources.create_network(self._api(), name, inputs)
            ),
            "docker:index/volume:Volume": lambda name, inputs: self._track(
                "volumes", docker_resources.create_volume(self._api(), name, inputs)
            ),
            "docker:index/remoteImage:RemoteImage": lambda name, inputs: docker_resources.create_remote_image(
                self._api(long_running=True), self.project_dir, name, inputs, self.ledger.builds
            ),
            "docker:index/image:Image": lambda name, inputs: docker_resources.create_image_v4(
                self._api(long_running=True), self.project_dir, name, inputs, self.ledger.builds
            ),
            "docker:index/container:Container": self._container,
            "tls:index/privateKey:PrivateKey": lambda _, inputs: keys.private_key(inputs),
            "tls:index/selfSignedCert:SelfSignedCert": lambda _, inputs: keys.self_signed_cert(inputs),
            "tls:index/certRequest:CertRequest": lambda _, inputs: keys.cert_request(inputs),
            "tls:index/locallySignedCert:LocallySignedCert": lambda _, inputs: keys.locally_signed_cert(
                inputs
            ),
            "random:index/randomPassword:RandomPassword": lambda _, inputs: keys.random_characters(inputs),
            "random:index/randomString:RandomString": lambda _, inputs: keys.random_characters(inputs),
            "random:index/randomId:RandomId": lambda _, inputs: keys.random_id(inputs),
            "random:index/randomBytes:RandomBytes": lambda _, inputs: keys.random_bytes(inputs),
            "random:index/randomUuid:RandomUuid": lambda _, inputs: keys.random_uuid(inputs),
            "random:index/randomInteger:RandomInteger": lambda _, inputs: keys.random_integer(inputs),
        }

    @staticmethod
    def _api(long_running: bool = False) -> docker.APIClient:
        # One client per call: registrations run on several executor threads at once.
        return docker.APIClient(timeout=1800 if long_running else 120)

    def _track(self, kind: str, result: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        with self.ledger.lock:
            getattr(self.ledger, kind).append(result[0])
        return result

    def _container(self, name: str, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        return docker_resources.create_container(
            self._api(long_running=True), name, inputs, self.limits, self._remember_container
        )

    def _remember_container(self, container_id: str, plan: docker_resources.ContainerPlan) -> None:
        with self.ledger.lock:
            self.ledger.containers.append((container_id, plan.remove_volumes, plan.destroy_grace_seconds))

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.custom:
            # Component resources have no engine meaning; their children are registered on their own.
            return None, {}
        applier = self._appliers.get(args.typ)
        if applier is None:
            raise UnmappedResourceError(f"{args.typ} ({args.name}): the harness has no applier for this type")
        log.info("applying %s %s", args.typ, args.name)
        inputs = unwrap_secrets(args.inputs)
        resource_id, outputs = applier(args.name, inputs)
        with self.ledger.lock:
            self.ledger.resources.append(Registered(args.typ, args.name, inputs, resource_id, outputs))
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        # The program is expected to make no invoke; one would need an explicit, engine-backed answer here.
        raise UnmappedResourceError(f"invoke {args.token}: the harness has no mapping for this call")

    def remove_all(self) -> list[str]:
        """Removes what this run created (containers, then networks, then volumes); returns the problems."""
        api = self._api()
        problems: list[str] = []
        for container_id, remove_volumes, grace in reversed(self.ledger.containers):
            # The provider stops with destroyGraceSeconds before removing; the harness bounds it at 10 s.
            problems += _quietly(container_id, api.stop, container_id, timeout=min(grace, 10) or 5)
            problems += _quietly(
                container_id, api.remove_container, container_id, v=remove_volumes, force=True
            )
        for network_id in reversed(self.ledger.networks):
            problems += _quietly(network_id, api.remove_network, network_id)
        for volume in reversed(self.ledger.volumes):
            problems += _quietly(volume, api.remove_volume, volume, force=True)
        return problems


def unwrap_secrets(value: Any) -> Any:
    """The engine hands secrets to the provider as plain values; the mock monitor keeps them wrapped."""
    if rpc.is_rpc_secret(value):
        return unwrap_secrets(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {key: unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(item) for item in value]
    return value


def _quietly(what: str, action: Callable[..., object], *args: Any, **kwargs: Any) -> list[str]:
    try:
        action(*args, **kwargs)
    except docker.errors.NotFound:
        return []
    except docker.errors.APIError as error:
        return [f"{what}: {error}"]
    return []
