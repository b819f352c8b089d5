"""docker:index/secret:Secret and docker:index/serviceConfig:ServiceConfig: Swarm objects holding file data.

Both carry `data` base64-encoded on the wire; the provider decodes it (standard alphabet) and the Go client
encodes the bytes again in the JSON body, so the engine receives the same base64 text. Every input of
both is ForceNew in the provider: a change is a replacement (harness.UPDATE_RULES), never an update.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors

from tests.e2e.properties import PropertyTable, label_map
from tests.e2e.resources.common import (
    E2E_LABEL,
    STACK_LABEL,
    ApplyError,
    Created,
    engine,
    engine_message,
    stack_of,
)


@dataclass
class FileObjectSpec:
    """A secret or a config: a name, data, labels."""

    name: str
    data: str = ""
    labels: dict[str, str] = field(default_factory=dict)


def _data(spec: FileObjectSpec, value: str) -> None:
    # The provider's validateStringIsBase64Encoded, then base64.StdEncoding.DecodeString.
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error as error:
        raise ApplyError(f"{spec.name}: data is not base64 ({error})") from error
    spec.data = value


SECRET_TABLE: PropertyTable[FileObjectSpec] = PropertyTable(
    "docker:Secret",
    {
        "name": lambda spec, value: setattr(spec, "name", value),
        "data": _data,
        "labels": lambda spec, value: spec.labels.update(label_map(value, "Secret.labels[]")),
    },
)
CONFIG_TABLE: PropertyTable[FileObjectSpec] = PropertyTable(
    "docker:ServiceConfig",
    {
        "name": lambda spec, value: setattr(spec, "name", value),
        "data": _data,
    },
)


def _create(api: docker.APIClient, kind: str, spec: FileObjectSpec) -> str:
    body = {"Name": spec.name, "Labels": spec.labels, "Data": spec.data}
    try:
        return str(engine(api, "POST", f"/{kind}/create", body=body)["ID"])
    except docker.errors.APIError as error:
        raise ApplyError(f"{spec.name}: {engine_message(error)}") from error


def create_secret(api: docker.APIClient, logical_name: str, inputs: Mapping[str, Any]) -> Created:
    spec = FileObjectSpec(name=logical_name)
    SECRET_TABLE.apply(spec, inputs)
    spec.labels[E2E_LABEL] = "1"
    return _create(api, "secrets", spec), {**inputs, "name": spec.name}


def create_config(api: docker.APIClient, logical_name: str, inputs: Mapping[str, Any], stack: str) -> Created:
    """pulumi-docker 4.11 has no `labels` on ServiceConfig: the harness adds its own and the stack's
    (from the `pap-<stack>-` name prefix), so teardown finds configs like everything else."""
    spec = FileObjectSpec(name=logical_name)
    CONFIG_TABLE.apply(spec, inputs)
    spec.labels[E2E_LABEL] = "1"
    if stack_of(spec.name, stack):
        spec.labels[STACK_LABEL] = stack
    return _create(api, "configs", spec), {**inputs, "name": spec.name}


def delete_secret(api: docker.APIClient, secret_id: str) -> None:
    _delete(api, "secrets", secret_id)


def delete_config(api: docker.APIClient, config_id: str) -> None:
    _delete(api, "configs", config_id)


def _delete(api: docker.APIClient, kind: str, object_id: str) -> None:
    # A secret or config still referenced by a service is refused ("is in use by the following service").
    try:
        with contextlib.suppress(docker.errors.NotFound):
            engine(api, "DELETE", f"/{kind}/{{0}}", object_id)
    except docker.errors.APIError as error:
        raise ApplyError(f"{kind[:-1]} {object_id}: {engine_message(error)}") from error
