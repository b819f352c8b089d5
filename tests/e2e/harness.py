"""A Pulumi mock runtime that APPLIES every resource the program registers onto the real Docker engine.

`ApplyingMocks.new_resource` receives each resource with its recorded inputs (wire names) exactly as the
engine would hand them to the provider, creates it through the Docker Engine API (or generates real key
material / random values) and returns real outputs, so later resources see real IDs and names. Anything
it creates on the engine carries `pap.e2e=1` besides the program's labels.

The mocks keep the state of every run, so a second run with the same mocks is a `pulumi up` UPDATE:
unchanged inputs keep their id and outputs without an engine call; a change the provider can apply in
place is an update (a Service: `docker service update` with the current version index, Swarm rolls the
tasks); any other change is a replacement, created before the old one is deleted unless the resource
says deleteBeforeReplace. What a run no longer registers, and what it replaced, is deleted once the run
has succeeded: services first (they hold secrets, configs, networks and volumes), then the most recently
created or updated first. `remove_all` deletes everything the mocks still hold, in the same order.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import docker
import docker.errors
import pulumi
from pulumi.runtime import rpc

from tests.e2e import keys
from tests.e2e.resources import images, networks, secrets, services, volumes
from tests.e2e.resources.common import ApplyError, Created
from tests.e2e.runtime import Registration, current_registration

log = logging.getLogger("pap.e2e.harness")

Action = Literal["create", "update", "replace", "same", "delete"]
SERVICE = "docker:index/service:Service"


class UnmappedResourceError(Exception):
    """A resource type or invoke the harness cannot apply: the deploy would silently miss it."""


@dataclass
class Registered:
    """One resource as the program registered it and as the harness applied it."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    id: str
    outputs: dict[str, Any]
    sequence: int  # order of the last create or update: deletions run newest first, dependents first
    retain_on_delete: bool = False


@dataclass
class RunRecord:
    """What one run did, by action, as (type, logical name)."""

    actions: dict[Action, list[tuple[str, str]]] = field(
        default_factory=lambda: {action: [] for action in ("create", "update", "replace", "same", "delete")}
    )
    registered: set[str] = field(default_factory=set)  # URNs

    def count(self, action: Action) -> int:
        return len(self.actions[action])


Decision = Literal["update", "replace"]


def replace_unless_only(*in_place: str) -> Callable[[Mapping[str, Any], Mapping[str, Any]], Decision]:
    """The provider's ForceNew: a change of any other input replaces the resource."""

    def decide(old: Mapping[str, Any], new: Mapping[str, Any]) -> Decision:
        return "update" if _changed(old, new) <= set(in_place) else "replace"

    return decide


REPLACE_ON_ANY_CHANGE = replace_unless_only()


def service_decision(old: Mapping[str, Any], new: Mapping[str, Any]) -> Decision:
    """docker_service's ForceNew fields; everything else is `docker service update`."""
    changed = _changed(old, new)
    if changed & {"name", "auth"} or ("mode" in old) != ("mode" in new):
        return "replace"
    old_task, new_task = old.get("taskSpec") or {}, new.get("taskSpec") or {}
    old_container, new_container = old_task.get("containerSpec") or {}, new_task.get("containerSpec") or {}
    force_new_container = {"hosts", "sysctl"}
    if _changed(old_container, new_container) & force_new_container:
        return "replace"
    # networks_advanced: name, aliases and driver_opts are ForceNew.
    return "replace" if _changed(old_task, new_task) & {"networksAdvanceds"} else "update"


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> set[str]:
    return {name for name in set(old) | set(new) if old.get(name) != new.get(name)}


@dataclass(frozen=True)
class Kind:
    """How the harness creates, updates and deletes one resource type."""

    create: Callable[[str, Mapping[str, Any]], Created]
    decide: Callable[[Mapping[str, Any], Mapping[str, Any]], Decision] = REPLACE_ON_ANY_CHANGE
    # None: an update changes nothing on the engine (the new inputs are the new outputs).
    update: Callable[[Registered, Mapping[str, Any]], dict[str, Any]] | None = None
    delete: Callable[[Registered], None] | None = None  # None: nothing to remove (keys, random values)


def _docker_api(long_running: bool = False) -> docker.APIClient:
    # One client per call: registrations run on several executor threads at once.
    return docker.APIClient(timeout=1800 if long_running else 120)


class ApplyingMocks(pulumi.runtime.Mocks):
    """Creates, updates and deletes each registered resource for real; see the module docstring."""

    def __init__(self, project_dir: Path, stack: str) -> None:
        self.project_dir = project_dir
        self.stack = stack
        self.live: dict[str, Registered] = {}  # by URN
        self.pending_delete: list[Registered] = []  # replaced, deleted after the run
        self.builds: list[images.BuildRecord] = []
        self.runs: list[RunRecord] = []
        self.errors: list[Exception] = []
        self._secret_leaves: set[str] = set()
        self._object_names: set[str] = set()  # of every Secret and ServiceConfig created
        self._sequence = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self.kinds: dict[str, Kind] = {
            "docker:index/network:Network": Kind(
                create=lambda name, inputs: networks.create_network(_docker_api(), name, inputs),
                delete=lambda resource: networks.delete_network(_docker_api(), resource.id),
            ),
            "docker:index/volume:Volume": Kind(
                create=lambda name, inputs: volumes.create_volume(_docker_api(), name, inputs),
                delete=lambda resource: volumes.delete_volume(_docker_api(), resource.id),
            ),
            "docker:index/secret:Secret": Kind(
                create=lambda name, inputs: secrets.create_secret(_docker_api(), name, inputs),
                delete=lambda resource: secrets.delete_secret(_docker_api(), resource.id),
            ),
            "docker:index/serviceConfig:ServiceConfig": Kind(
                create=lambda name, inputs: secrets.create_config(_docker_api(), name, inputs, self.stack),
                delete=lambda resource: secrets.delete_config(_docker_api(), resource.id),
            ),
            SERVICE: Kind(
                create=lambda name, inputs: services.create_service(_docker_api(True), name, inputs),
                decide=service_decision,
                update=lambda resource, inputs: services.update_service(
                    _docker_api(True), resource.id, inputs
                ),
                delete=lambda resource: services.delete_service(_docker_api(True), resource.id),
            ),
            "docker:index/remoteImage:RemoteImage": Kind(
                create=lambda name, inputs: images.create_remote_image(
                    _docker_api(True), self.project_dir, name, inputs, self.builds
                ),
                decide=replace_unless_only("keepLocally", "forceRemove"),
                delete=lambda resource: images.delete_remote_image(_docker_api(), resource.outputs),
            ),
            "docker:index/image:Image": Kind(
                create=lambda name, inputs: images.create_image_v4(
                    _docker_api(True), self.project_dir, name, inputs, self.builds
                ),
                decide=replace_unless_only("buildOnPreview"),
            ),
            "tls:index/privateKey:PrivateKey": Kind(create=lambda _, inputs: keys.private_key(inputs)),
            "tls:index/selfSignedCert:SelfSignedCert": Kind(
                create=lambda _, inputs: keys.self_signed_cert(inputs),
                decide=replace_unless_only("earlyRenewalHours"),
            ),
            "tls:index/certRequest:CertRequest": Kind(create=lambda _, inputs: keys.cert_request(inputs)),
            "tls:index/locallySignedCert:LocallySignedCert": Kind(
                create=lambda _, inputs: keys.locally_signed_cert(inputs),
                decide=replace_unless_only("earlyRenewalHours"),
            ),
            "random:index/randomPassword:RandomPassword": Kind(
                create=lambda _, inputs: keys.random_characters(inputs)
            ),
            "random:index/randomString:RandomString": Kind(
                create=lambda _, inputs: keys.random_characters(inputs)
            ),
            "random:index/randomId:RandomId": Kind(create=lambda _, inputs: keys.random_id(inputs)),
            "random:index/randomBytes:RandomBytes": Kind(create=lambda _, inputs: keys.random_bytes(inputs)),
            "random:index/randomUuid:RandomUuid": Kind(create=lambda _, inputs: keys.random_uuid(inputs)),
            "random:index/randomInteger:RandomInteger": Kind(
                create=lambda _, inputs: keys.random_integer(inputs)
            ),
        }

    # ------------------------------------------------------------------------------------------ runs

    def begin_run(self) -> RunRecord:
        with self._lock:
            self.errors = []
            self.runs.append(RunRecord())
            return self.runs[-1]

    @property
    def run(self) -> RunRecord:
        return self.runs[-1]

    def finish_run(self) -> None:
        """After a successful run: deletes what it no longer registers and what it replaced."""
        with self._lock:
            gone = [resource for urn, resource in self.live.items() if urn not in self.run.registered]
            for resource in gone:
                del self.live[resource.urn]
            doomed, self.pending_delete = [*self.pending_delete, *gone], []
        problems = self._delete(doomed, self.run)
        if problems:
            raise ApplyError("deleting what the run no longer declares failed: " + "; ".join(problems))

    def _delete(self, doomed: list[Registered], run: RunRecord | None) -> list[str]:
        problems = []
        # Services first (they hold the secrets, configs, networks and volumes), then newest first.
        order = sorted(doomed, key=lambda item: (item.type != SERVICE, -item.sequence))
        for resource in order:
            kind = self.kinds[resource.type]
            try:
                if kind.delete is not None and not resource.retain_on_delete:
                    log.info("deleting %s %s", resource.type, resource.name)
                    kind.delete(resource)
            except (ApplyError, docker.errors.APIError) as error:
                problems.append(f"{resource.name}: {error}")
                with self._lock:
                    self.pending_delete.append(resource)  # still there: remove_all tries again
                continue
            if run is not None:
                run.actions["delete"].append((resource.type, resource.name))
        return problems

    def remove_all(self) -> list[str]:
        """Deletes everything the mocks hold (live and replaced); returns the problems."""
        with self._lock:
            doomed, self.pending_delete = [*self.pending_delete, *self.live.values()], []
            self.live = {}
        return self._delete(doomed, None)

    @property
    def resources(self) -> list[Registered]:
        """The live resources in the order of their last create or update."""
        with self._lock:
            return sorted(self.live.values(), key=lambda item: item.sequence)

    def count(self, resource_type: str) -> int:
        return sum(1 for resource in self.resources if resource.type == resource_type)

    # ----------------------------------------------------------------------------- the mock protocol

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.custom:
            # Component resources have no engine meaning; their children are registered on their own.
            return None, {}
        with self._lock:
            self._in_flight += 1
        try:
            return self._apply(args, current_registration())
        except Exception as error:
            with self._lock:
                self.errors.append(error)
            raise
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """After a failed run: the SDK gives up at the first error while other registrations still run
        (an image build, a service converging); what they create must be in the state before cleanup."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def _apply(self, args: pulumi.runtime.MockResourceArgs, registration: Registration) -> tuple[str, dict]:
        kind = self.kinds.get(args.typ)
        if kind is None:
            raise UnmappedResourceError(f"{args.typ} ({args.name}): the harness has no applier for this type")
        inputs = self._unwrap(args.inputs)
        with self._lock:
            previous = self.live.get(registration.urn)
            self.run.registered.add(registration.urn)
        if previous is not None:
            # ignoreChanges (top-level names): the previous value stands, as the engine does.
            kept = {
                name: previous.inputs[name] for name in registration.ignore_changes if name in previous.inputs
            }
            inputs = {**inputs, **kept}
            if inputs == previous.inputs:
                self.run.actions["same"].append((args.typ, args.name))
                return previous.id, previous.outputs
            decision = kind.decide(previous.inputs, inputs)
            if set(registration.replace_on_changes) & (_changed(previous.inputs, inputs) | {"*"}):
                decision = "replace"
            if decision == "update":
                log.info("updating %s %s", args.typ, args.name)
                outputs = kind.update(previous, inputs) if kind.update else {**previous.outputs, **inputs}
                # Now newer than what it was updated onto (a replaced secret): deleted before it.
                self._record(args, registration, inputs, previous.id, outputs, self._next_sequence())
                self.run.actions["update"].append((args.typ, args.name))
                return previous.id, outputs
            if registration.delete_before_replace and kind.delete is not None:
                kind.delete(previous)
        log.info("%s %s %s", "replacing" if previous else "creating", args.typ, args.name)
        resource_id, outputs = kind.create(args.name, inputs)
        sequence = self._next_sequence()
        with self._lock:
            if previous is not None and not registration.delete_before_replace:
                self.pending_delete.append(previous)  # create-before-delete: removed after the run
        self._record(args, registration, inputs, resource_id, outputs, sequence)
        self.run.actions["replace" if previous else "create"].append((args.typ, args.name))
        self._remember_secret_outputs(args.typ, inputs, outputs)
        return resource_id, outputs

    def _next_sequence(self) -> int:
        with self._lock:
            self._sequence += 1
            return self._sequence

    def _record(
        self,
        args: pulumi.runtime.MockResourceArgs,
        registration: Registration,
        inputs: dict[str, Any],
        resource_id: str,
        outputs: dict[str, Any],
        sequence: int,
    ) -> None:
        resource = Registered(
            args.typ,
            args.name,
            registration.urn,
            inputs,
            resource_id,
            outputs,
            sequence,
            registration.retain_on_delete,
        )
        with self._lock:
            self.live[resource.urn] = resource

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        if args.token == "docker:index/getNetwork:getNetwork":
            try:
                return networks.get_network(_docker_api(), self._unwrap(args.args)), []
            except Exception as error:
                with self._lock:
                    self.errors.append(error)
                raise
        unmapped = UnmappedResourceError(f"invoke {args.token}: the harness has no mapping for this call")
        with self._lock:
            self.errors.append(unmapped)
        raise unmapped

    # ------------------------------------------------------------------------------------ secrets

    def _unwrap(self, value: Any, secret: bool = False) -> Any:
        """The engine hands secrets to the provider as plain values; the mock monitor keeps them wrapped.
        Every secret leaf is remembered, so the checks can look for it where it must never appear."""
        if rpc.is_rpc_secret(value):
            return self._unwrap(rpc.unwrap_rpc_secret(value), secret=True)
        if isinstance(value, dict):
            return {key: self._unwrap(item, secret) for key, item in value.items()}
        if isinstance(value, list):
            return [self._unwrap(item, secret) for item in value]
        if secret and isinstance(value, str) and value:
            with self._lock:
                self._secret_leaves.add(value)
        return value

    def _remember_secret_outputs(
        self, resource_type: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any]
    ) -> None:
        # Outputs the providers' schemas mark secret, and what a docker Secret holds.
        found: list[str] = []
        if resource_type == "random:index/randomPassword:RandomPassword":
            found.append(str(outputs["result"]))
        if resource_type == "tls:index/privateKey:PrivateKey":
            found += [
                str(outputs[name]) for name in ("privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh")
            ]
        if resource_type == "docker:index/secret:Secret":
            found.append(base64.b64decode(inputs["data"]).decode(errors="replace"))
        with self._lock:
            if resource_type in ("docker:index/secret:Secret", "docker:index/serviceConfig:ServiceConfig"):
                self._object_names.add(str(outputs["name"]))
            self._secret_leaves.update(value for value in found if value)

    @property
    def secret_values(self) -> set[str]:
        """Every secret value the runs generated or handed over as secret. A Swarm secret's or config's name
        is derived from its content (a digest), so Pulumi marks it secret too; it is an identifier that
        services must name, and is left out."""
        with self._lock:
            return self._secret_leaves - self._object_names
