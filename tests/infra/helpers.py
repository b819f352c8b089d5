"""Runs the real program under the mocks for the infra tests, and small queries over what it declared."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pulumi

import infra.plan
from infra.config import PROJECT, StackConfig, validate_stack_config
from infra.mocks import STACK_OUTPUTS_DIRS, RealisticMocks, plain
from infra.plan import PlanRun, RecordedResource, read_stack_file, run_program

SERVICE = "docker:index/service:Service"
SECRET = "docker:index/secret:Secret"
SERVICE_CONFIG = "docker:index/serviceConfig:ServiceConfig"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
DEV_IMAGE = "sha256:" + "d" * 64  # the image IDs the dev stack "exported" in the tests' stack-outputs file
DEV_WEB_IMAGE = "sha256:" + "b" * 64
SECRETS_DIR = "/run/secrets"
SECRET_FILE_MODE = 0o400
CONFIG_FILE_MODE = 0o444
# The UID each role's image runs as (ARCHITECTURE.md, "Image contracts"); group 0 everywhere.
EXPECTED_UIDS = {
    "proxy": 10030,
    "backend": 10001,
    "migrate": 10001,
    "web": 10050,
    "database": 10010,
    "cache": 10020,
    "backup": 10040,  # the pgBackRest repositories (the database image, its pap-backup user)
    "backup-offsite": 10040,
}
MIB = 1024 * 1024
NANO = 1_000_000_000


def write_dev_outputs(directory: Path, image: str = DEV_IMAGE, web_image: str = DEV_WEB_IMAGE) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "dev.json"
    outputs = {"serviceImage": image, "webImage": web_image}
    path.write_text(json.dumps({"outputs": outputs, "secretOutputNames": []}))
    return path


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        elif value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def stack_config(stack: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The committed stack file's project config as Python values, with `overrides` deep-merged in."""
    config, _ = read_stack_file(stack)
    values = {
        key[len(PROJECT) + 1 :]: json.loads(value) if value[:1] in "{[" else value
        for key, value in config.items()
    }
    return _merge(values, overrides or {})


def validated(stack: str, overrides: Mapping[str, Any] | None = None) -> StackConfig:
    """The typed config the program sees for `stack` (the expected values of the tests)."""
    return validate_stack_config(stack, stack_config(stack, overrides), frozenset())


def run_stack(
    stack: str,
    stack_outputs_dir: Path,
    overrides: Mapping[str, Any] | None = None,
    secret_keys: tuple[str, ...] = (),
) -> PlanRun:
    values = stack_config(stack, overrides)
    config = {
        f"{PROJECT}:{key}": json.dumps(value) if isinstance(value, dict | list) else str(value)
        for key, value in values.items()
    }
    return run_program(stack, config, [f"{PROJECT}:{key}" for key in secret_keys], (stack_outputs_dir,))


def of_type(run: PlanRun, type_: str) -> list[RecordedResource]:
    return [resource for resource in run.resources if resource.type == type_]


def inputs(resource: RecordedResource) -> dict[str, Any]:
    """Inputs with secret wrappers removed (what the provider receives)."""
    return plain(resource.inputs)  # type: ignore[no-any-return]


def services(run: PlanRun) -> list[RecordedResource]:
    return of_type(run, SERVICE)


def labels(resource: RecordedResource) -> dict[str, str]:
    return {item["label"]: item["value"] for item in inputs(resource).get("labels", [])}


def role_of(service: RecordedResource) -> str:
    return labels(service)["pap.role"]


def by_role(run: PlanRun, role: str) -> list[RecordedResource]:
    return [service for service in services(run) if labels(service).get("pap.role") == role]


def the_service(run: PlanRun, role: str) -> RecordedResource:
    (service,) = by_role(run, role)
    return service


def named(run: PlanRun, name: str) -> RecordedResource:
    matches = [resource for resource in run.resources if inputs(resource).get("name") == name]
    assert len(matches) == 1, f"expected one resource named {name}, found {len(matches)}"
    return matches[0]


def task_spec(service: RecordedResource) -> dict[str, Any]:
    return inputs(service)["taskSpec"]


def container_spec(service: RecordedResource) -> dict[str, Any]:
    return task_spec(service)["containerSpec"]


def env(service: RecordedResource) -> dict[str, str]:
    return dict(container_spec(service).get("env") or {})


def networks(service: RecordedResource) -> dict[str, list[str]]:
    """Network name -> aliases of the service's tasks."""
    return {item["name"]: item.get("aliases", []) for item in task_spec(service).get("networksAdvanceds", [])}


def secret_mounts(service: RecordedResource) -> dict[str, dict[str, Any]]:
    return {item["fileName"]: item for item in container_spec(service).get("secrets") or []}


def config_mounts(service: RecordedResource) -> dict[str, dict[str, Any]]:
    return {item["fileName"]: item for item in container_spec(service).get("configs") or []}


def decoded(resource: RecordedResource) -> str:
    """The content of a Swarm secret or config (its `data` is base64)."""
    return base64.b64decode(inputs(resource)["data"], validate=True).decode()


def mounted_object(run: PlanRun, service: RecordedResource, path: str) -> RecordedResource:
    """The Secret or ServiceConfig the service mounts at `path`."""
    if path in secret_mounts(service):
        return named(run, secret_mounts(service)[path]["secretName"])
    return named(run, config_mounts(service)[path]["configName"])


def mounted(run: PlanRun, service: RecordedResource, path: str) -> str:
    """What a task of the service reads at `path` (a mounted secret or config)."""
    return decoded(mounted_object(run, service, path))


def mounted_contents(run: PlanRun, service: RecordedResource) -> dict[str, str]:
    paths = [*secret_mounts(service), *config_mounts(service)]
    return {path: mounted(run, service, path) for path in paths}


def secret_part(resource: RecordedResource) -> str:
    """`db-password` of the Secret `pap-<stack>-db-password-<12 hex>` (its logical name is without hash)."""
    return resource.name.split("-", 2)[2]


def seconds(duration: str) -> float:
    """A Go duration as the provider takes it ("5s", "2m", "1m30s") in seconds."""
    total, number = 0.0, ""
    units = {"h": 3600, "m": 60, "s": 1}
    for char in duration:
        if char.isdigit() or char == ".":
            number += char
        else:
            total += float(number) * units[char]
            number = ""
    assert not number, f"no unit in {duration!r}"
    return total


def walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item)


class RememberingMocks(RealisticMocks):
    """The mocks over a state, like `pulumi up` after `pulumi up`: a resource whose inputs did not change
    keeps its outputs (a random password its value); changed inputs (a rotation keeper) make it new."""

    def __init__(
        self,
        state: dict[tuple[str, str, str], Any],
        stack_outputs_dirs: tuple[Path, ...] = STACK_OUTPUTS_DIRS,
    ) -> None:
        super().__init__(stack_outputs_dirs)
        self._state = state

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        key = (args.typ, args.name, json.dumps(plain(args.inputs), sort_keys=True, default=str))
        if key not in self._state:
            self._state[key] = super().new_resource(args)
        return self._state[key]


@contextmanager
def mocked_with(factory: Callable[[tuple[Path, ...]], RealisticMocks]) -> Iterator[None]:
    """Runs of `run_stack` inside use the mocks `factory(stack_outputs_dirs)` makes."""
    with patch.object(infra.plan, "RealisticMocks", factory):
        yield
