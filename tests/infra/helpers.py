"""Runs the real program under the mocks for the infra tests, and small queries over what it declared."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from infra.config import PROJECT
from infra.mocks import plain
from infra.plan import PlanRun, RecordedResource, read_stack_file, run_program

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
DEV_IMAGE = "sha256:" + "d" * 64  # the image ID the dev stack "exported" in the tests' stack-outputs file


def write_dev_outputs(directory: Path, image: str = DEV_IMAGE) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "dev.json"
    path.write_text(json.dumps({"outputs": {"serviceImage": image}, "secretOutputNames": []}))
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


def is_seed(resource: RecordedResource) -> bool:
    return inputs(resource).get("start") is False


def services(run: PlanRun) -> list[RecordedResource]:
    """The containers that run (every container but the never-started seeds)."""
    return [container for container in of_type(run, CONTAINER) if not is_seed(container)]


def labels(resource: RecordedResource) -> dict[str, str]:
    return {item["label"]: item["value"] for item in inputs(resource).get("labels", [])}


def by_role(run: PlanRun, role: str) -> list[RecordedResource]:
    return [container for container in services(run) if labels(container).get("pap.role") == role]


def named(run: PlanRun, name: str) -> RecordedResource:
    matches = [resource for resource in run.resources if inputs(resource).get("name") == name]
    assert len(matches) == 1, f"expected one resource named {name}, found {len(matches)}"
    return matches[0]


def envs(resource: RecordedResource) -> dict[str, str]:
    return dict(item.split("=", 1) for item in inputs(resource).get("envs", []))


def uploads(resource: RecordedResource) -> dict[str, dict[str, Any]]:
    return {upload["file"]: upload for upload in inputs(resource).get("uploads", [])}


def seed_of(run: PlanRun, container: RecordedResource) -> RecordedResource:
    return named(run, f"{inputs(container)['name']}-seed")


def walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item)
