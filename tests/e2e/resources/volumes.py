"""docker:index/volume:Volume."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors

from tests.e2e.properties import PropertyTable, label_map
from tests.e2e.resources.common import E2E_LABEL, ApplyError, Created, engine_message

# The provider retries a removal while the volume is in use (a task container still being removed), 30 s.
REMOVE_RETRY_SECONDS = 30.0


@dataclass
class VolumeSpec:
    name: str
    driver: str = "local"
    driver_opts: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


def _no_cluster_volume(spec: VolumeSpec, value: Mapping[str, Any]) -> None:
    raise ApplyError(
        f"{spec.name}: cluster (CSI) volumes need API 1.42 and a CSI plugin; this engine is 1.41"
    )


VOLUME_TABLE: PropertyTable[VolumeSpec] = PropertyTable(
    "docker:Volume",
    {
        "name": lambda spec, value: setattr(spec, "name", value),
        "driver": lambda spec, value: setattr(spec, "driver", value),
        "driverOpts": lambda spec, value: spec.driver_opts.update(value),
        "labels": lambda spec, value: spec.labels.update(label_map(value, "Volume.labels[]")),
        "cluster": _no_cluster_volume,
    },
)


def create_volume(api: docker.APIClient, logical_name: str, inputs: Mapping[str, Any]) -> Created:
    spec = VolumeSpec(name=logical_name)
    VOLUME_TABLE.apply(spec, inputs)
    try:
        volume = api.create_volume(
            name=spec.name,
            driver=spec.driver,
            driver_opts=spec.driver_opts,
            labels={**spec.labels, E2E_LABEL: "1"},
        )
    except docker.errors.APIError as error:
        raise ApplyError(f"{logical_name}: {engine_message(error)}") from error
    return volume["Name"], {**inputs, "name": volume["Name"], "mountpoint": volume["Mountpoint"]}


def delete_volume(api: docker.APIClient, name: str) -> None:
    deadline = time.monotonic() + REMOVE_RETRY_SECONDS
    while True:
        try:
            api.remove_volume(name)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as error:
            if "in use" not in engine_message(error) or time.monotonic() > deadline:
                raise ApplyError(f"volume {name}: {engine_message(error)}") from error
            time.sleep(1)
