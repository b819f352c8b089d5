"""docker:index/network:Network and the docker:index/getNetwork:getNetwork invoke."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors

from tests.e2e.properties import PropertyTable, label_map, require_mapped
from tests.e2e.resources.common import E2E_LABEL, ApplyError, Created, engine, engine_message

# The provider retries a removal while the network still has endpoints (tasks being shut down), 30 s.
REMOVE_RETRY_SECONDS = 30.0


@dataclass
class NetworkSpec:
    name: str
    body: dict[str, Any] = field(default_factory=lambda: {"CheckDuplicate": True})


def _ipam(spec: NetworkSpec) -> dict[str, Any]:
    ipam: dict[str, Any] = spec.body.setdefault("IPAM", {"Driver": "default", "Options": {}})
    return ipam


def _ipam_configs(spec: NetworkSpec, value: list[Mapping[str, Any]]) -> None:
    configs = []
    for item in value:
        require_mapped("Network.ipamConfigs[]", item, {"subnet", "gateway", "ipRange", "auxAddress"})
        configs.append(
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
    _ipam(spec)["Config"] = configs


def _body(
    key: str, convert: Callable[[Any], Any] = lambda value: value
) -> Callable[[NetworkSpec, Any], None]:
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
        # e.g. {"encrypted": ""} on overlay networks: IPsec between nodes, passed through as given.
        "options": _body("Options", lambda value: {key: str(item) for key, item in value.items()}),
        "labels": lambda spec, value: spec.body.setdefault("Labels", {}).update(
            label_map(value, "Network.labels[]")
        ),
        "ipamDriver": lambda spec, value: _ipam(spec).__setitem__("Driver", value),
        "ipamOptions": lambda spec, value: _ipam(spec).__setitem__("Options", dict(value)),
        "ipamConfigs": _ipam_configs,
    },
)


def _flat_ipam_configs(inspected: Mapping[str, Any]) -> list[dict[str, Any]]:
    # The provider's flattenIpamConfig: every key, empty when the engine has no value.
    return [
        {
            "subnet": item.get("Subnet", ""),
            "gateway": item.get("Gateway", ""),
            "ipRange": item.get("IPRange", ""),
            "auxAddress": item.get("AuxiliaryAddresses") or {},
        }
        for item in (inspected.get("IPAM") or {}).get("Config") or []
    ]


def create_network(api: docker.APIClient, logical_name: str, inputs: Mapping[str, Any]) -> Created:
    # Without `name` the Pulumi engine auto-names from the logical name; the harness uses the logical name.
    spec = NetworkSpec(name=logical_name)
    NETWORK_TABLE.apply(spec, inputs)
    spec.body.setdefault("Labels", {})[E2E_LABEL] = "1"
    try:
        network_id = engine(api, "POST", "/networks/create", body={"Name": spec.name, **spec.body})["Id"]
    except docker.errors.APIError as error:
        raise ApplyError(f"{logical_name}: Unable to create network: {engine_message(error)}") from error
    created = api.inspect_network(network_id)
    # Computed by the engine and read back by the provider: the program may use the assigned subnet.
    return network_id, {
        **inputs,
        "name": spec.name,
        "scope": created["Scope"],
        "driver": created["Driver"],
        "internal": created["Internal"],
        "attachable": created["Attachable"],
        "options": created.get("Options") or {},
        "ipamDriver": (created.get("IPAM") or {}).get("Driver", "default"),
        "ipamConfigs": _flat_ipam_configs(created),
    }


def delete_network(api: docker.APIClient, network_id: str) -> None:
    deadline = time.monotonic() + REMOVE_RETRY_SECONDS
    while True:
        try:
            api.remove_network(network_id)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as error:
            if "has active endpoints" not in engine_message(error) or time.monotonic() > deadline:
                raise ApplyError(f"network {network_id}: {engine_message(error)}") from error
            time.sleep(1)


def get_network(api: docker.APIClient, args: Mapping[str, Any]) -> dict[str, Any]:
    """The data source: inspects the named network on the engine, as the provider's read does."""
    require_mapped("docker:getNetwork", args, {"name", "id"})
    target = args.get("name") or args.get("id")
    if not target:
        raise ApplyError("docker:getNetwork: One of id or name must be assigned")
    try:
        network = api.inspect_network(target)
    except docker.errors.APIError as error:
        raise ApplyError(f"Could not find docker network: {engine_message(error)}") from error
    return {
        "id": network["Id"],
        "name": network["Name"],
        "scope": network["Scope"],
        "driver": network["Driver"],
        "options": network.get("Options") or {},
        "internal": network["Internal"],
        "ipamConfigs": _flat_ipam_configs(network),
    }
