"""Service rules called directly (no analyzer): runtime, mounts, networks and rollout edge cases the
recorded program does not exercise."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies.rules import (
    service_mounts,
    service_network,
    service_rollout,
    service_runtime,
)
from policies.rules._props import (
    NETWORK,
    SERVICE,
    UNKNOWN,
    VOLUME,
    plain,
)
from tests.policies.support import (
    plan_item,
    run_resource_rule,
    run_stack_rule,
    service_item,
    service_messages,
    service_props,
)


def test_plain_unwraps_proxies_and_marks_unknowns() -> None:
    proxied = unknown_checking_proxy(
        {"user": UNKNOWN_STRING_VALUE, "ports": [{"ip": UNKNOWN_STRING_VALUE}], "n": 1}
    )
    assert plain(proxied) == {"user": UNKNOWN, "ports": [{"ip": UNKNOWN}], "n": 1}


# --- service_runtime ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "fires"),
    [
        ("10001:0", False),
        ("10001", False),
        ("app", True),  # a name may map to UID 0 in the image's /etc/passwd
        ("root", True),
        ("0", True),
        ("0:0", True),
        ("00:0", True),
        ("", True),
        (None, True),
    ],
)
def test_non_root_user(user: str | None, fires: bool) -> None:
    spec = {} if user is None else {"user": user}
    assert bool(service_messages(service_runtime.service_non_root, **spec)) is fires


def test_unknown_user_is_skipped() -> None:
    assert service_messages(service_runtime.service_non_root, user=UNKNOWN_STRING_VALUE) == []


def test_capabilities_normalized_and_configurable() -> None:
    rule = service_runtime.service_capabilities_dropped
    assert service_messages(rule, capDrops=["all"]) == []
    assert service_messages(
        rule, capDrops=["ALL"], capAdds=["CAP_NET_BIND_SERVICE"]
    )  # none allowed by default
    allowed = {"allowedAdds": ["NET_BIND_SERVICE"]}
    assert service_messages(rule, allowed, capDrops=["ALL"], capAdds=["CAP_NET_BIND_SERVICE"]) == []
    assert service_messages(rule, capDrops=["NET_RAW"])
    assert service_messages(rule, capDrops=UNKNOWN_ARRAY_VALUE) == []


def _resources(limits: dict[str, Any] | None, reservation: dict[str, Any] | None) -> dict[str, Any]:
    resources = {
        key: value for key, value in (("limits", limits), ("reservation", reservation)) if value is not None
    }
    return {"taskSpec": {"containerSpec": {}, "resources": resources}}


@pytest.mark.parametrize(
    ("limits", "reservation", "fires"),
    [
        ({"memoryBytes": 512}, {"memoryBytes": 128}, False),
        ({"memoryBytes": 512}, {"memoryBytes": 512}, False),
        ({"memoryBytes": 512}, {"memoryBytes": 1024}, True),
        ({"memoryBytes": 512}, None, True),
        (None, {"memoryBytes": 128}, True),
        ({"memoryBytes": 0}, {"memoryBytes": 128}, True),
        ({"memoryBytes": UNKNOWN_STRING_VALUE}, {"memoryBytes": 128}, False),
    ],
)
def test_memory_needs_limit_and_reservation(
    limits: dict[str, Any] | None, reservation: dict[str, Any] | None, fires: bool
) -> None:
    messages = run_resource_rule(
        service_runtime.service_memory_limited, SERVICE, _resources(limits, reservation)
    )
    assert bool(messages) is fires


def test_cpu_reservation_is_read_from_nano_cpus() -> None:
    rule = service_runtime.service_cpu_limited
    good = _resources({"nanoCpus": 10**9}, {"nanoCpus": 10**8})
    assert run_resource_rule(rule, SERVICE, good) == []
    assert run_resource_rule(rule, SERVICE, _resources({"nanoCpus": 10**9}, {"memoryBytes": 10**8}))


def test_generic_resources_are_devices() -> None:
    rule = service_runtime.service_no_devices
    gpu = _resources(None, {"genericResources": {"namedResourcesSpecs": ["GPU=UUID1"]}})
    assert run_resource_rule(rule, SERVICE, gpu)
    assert run_resource_rule(rule, SERVICE, _resources(None, {"genericResources": {}})) == []


def test_restart_policy() -> None:
    rule = service_runtime.service_restart_policy

    def policy(**restart: Any) -> dict[str, Any]:
        return {"taskSpec": {"containerSpec": {}, "restartPolicy": restart}}

    assert run_resource_rule(rule, SERVICE, policy(condition="on-failure", maxAttempts=5)) == []
    assert run_resource_rule(rule, SERVICE, policy(condition="on-failure", maxAttempts=6))
    assert (
        run_resource_rule(rule, SERVICE, policy(condition="on-failure", maxAttempts=6), {"maxAttempts": 10.0})
        == []
    )
    assert run_resource_rule(rule, SERVICE, policy(maxAttempts=3))  # Swarm's default condition is "any"
    assert run_resource_rule(rule, SERVICE, policy(condition="none", maxAttempts=3))
    assert run_resource_rule(rule, SERVICE, service_props())


@pytest.mark.parametrize(
    ("image", "fires"),
    [
        ("sha256:" + "a" * 64, False),
        ("registry/pap@sha256:" + "b" * 64, False),
        ("pap:1.0", True),
        ("pap", True),
        (UNKNOWN_STRING_VALUE, False),  # an image resource's output, known at `pulumi up`
    ],
)
def test_image_reference(image: str, fires: bool) -> None:
    assert bool(service_messages(service_runtime.service_image_immutable, image=image)) is fires


def test_selinux_disable_only_when_true() -> None:
    rule = service_runtime.service_selinux_not_disabled
    assert service_messages(rule, privileges={"seLinuxContext": {"disable": True}})
    assert (
        service_messages(rule, privileges={"seLinuxContext": {"disable": False, "type": "container_t"}}) == []
    )


# --- service_mounts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "fires"),
    [
        ("/etc", True),
        ("/etc/nginx/", True),
        ("/", True),
        ("/usr/../etc", True),
        ("/etcetera", False),
        ("/srv", False),
    ],
)
def test_sensitive_bind_sources(source: str, fires: bool) -> None:
    mounts = [{"type": "bind", "source": source, "target": "/x"}]
    assert bool(service_messages(service_mounts.host_path_not_sensitive, mounts=mounts)) is fires


def test_volume_bind_options_in_a_resource_and_in_a_mount() -> None:
    rule = service_mounts.host_path_not_sensitive
    assert run_resource_rule(rule, VOLUME, {"driverOpts": {"o": "bind,ro", "device": "/usr/lib"}})
    assert run_resource_rule(rule, VOLUME, {"driverOpts": {"o": "bind", "device": "/srv/data"}}) == []
    assert run_resource_rule(rule, VOLUME, {"driverOpts": {"type": "tmpfs", "device": "tmpfs"}}) == []
    inline = {"type": "volume", "source": "v", "target": "/x"}
    inline["volumeOptions"] = {"driverOptions": {"type": "none", "o": "bind", "device": "/proc"}}
    assert service_messages(rule, mounts=[inline])
    # The same options on a bind mount are not how a bind mount names its source.
    assert service_messages(rule, mounts=[{**inline, "type": "tmpfs"}]) == []


def test_docker_socket_through_volume_options() -> None:
    mount = {"type": "volume", "source": "v", "target": "/var/run/docker.sock"}
    mount["volumeOptions"] = {"driverOptions": {"o": "bind", "device": "/var/run"}}
    assert service_messages(service_mounts.service_no_docker_socket, mounts=[mount])
    socket = {"type": "bind", "source": "/run/docker.sock", "target": "/var/run/docker.sock"}
    assert service_messages(service_mounts.service_no_docker_socket, mounts=[socket])


def test_propagation() -> None:
    rule = service_mounts.service_mount_propagation
    mount = {"type": "bind", "source": "/srv", "target": "/srv"}
    assert service_messages(rule, mounts=[{**mount, "bindOptions": {"propagation": "shared"}}])
    assert service_messages(rule, mounts=[{**mount, "bindOptions": {"propagation": "rslave"}}]) == []


# --- service_network ---------------------------------------------------------------------------------------


def _networked(*names: str) -> dict[str, Any]:
    return {"taskSpec": {"containerSpec": {}, "networksAdvanceds": [{"name": name} for name in names]}}


def test_networks() -> None:
    assert run_resource_rule(service_network.service_no_host_network, SERVICE, _networked("app", "host"))
    assert run_resource_rule(service_network.service_no_host_network, SERVICE, _networked("app")) == []
    bridge = service_network.service_not_default_bridge
    assert run_resource_rule(bridge, SERVICE, _networked())
    assert run_resource_rule(bridge, SERVICE, _networked("bridge"))
    assert run_resource_rule(bridge, SERVICE, _networked("pap-dev-app")) == []
    unknown = {"taskSpec": {"networksAdvanceds": UNKNOWN_ARRAY_VALUE}}
    assert run_resource_rule(bridge, SERVICE, unknown) == []


def _published(*ports: dict[str, Any]) -> dict[str, Any]:
    return {"taskSpec": {"containerSpec": {}}, "endpointSpec": {"ports": list(ports)}}


@pytest.mark.parametrize(("mode", "fires"), [("host", False), ("ingress", True), (None, True)])
def test_publish_mode(mode: str | None, fires: bool) -> None:
    port: dict[str, Any] = {"targetPort": 8443, "publishedPort": 8443}
    if mode is not None:
        port["publishMode"] = mode
    messages = run_resource_rule(service_network.service_ports_host_mode, SERVICE, _published(port))
    assert bool(messages) is fires


def test_privileged_published_port() -> None:
    rule = service_network.service_no_privileged_host_ports
    assert run_resource_rule(rule, SERVICE, _published({"targetPort": 80, "publishMode": "host"})) == []
    assert run_resource_rule(rule, SERVICE, _published({"targetPort": 8443, "publishedPort": 443}))


def test_data_tier_found_by_image_when_unlabelled() -> None:
    database = service_item(
        "pg",
        None,
        taskSpec={"containerSpec": {"image": "postgres:16"}},
        endpointSpec={"ports": [{"targetPort": 5432}]},
    )
    reported = run_stack_rule(service_network.data_tier_publishes_nothing, [database])
    assert [urn for _, urn in reported] == [database["urn"]]


@pytest.mark.parametrize(("role", "network"), [("backup", "pap-t-data"), ("backup-offsite", "pap-t-offsite")])
def test_backup_repositories_are_data_tier_on_internal_networks(role: str, network: str) -> None:
    networks = [
        plan_item(NETWORK, "networks-data", {"name": "pap-t-data", "internal": True}),
        plan_item(NETWORK, "networks-offsite", {"name": "pap-t-offsite", "internal": True}),
        plan_item(NETWORK, "networks-edge", {"name": "pap-t-edge", "internal": False}),
    ]
    backup = service_item("backup", role, taskSpec={"networksAdvanceds": [{"name": network}]})
    rule = service_network.data_tier_internal_networks_only
    assert run_stack_rule(rule, [*networks, backup]) == []
    backup["inputs"]["taskSpec"]["networksAdvanceds"].append({"name": "pap-t-edge"})
    assert len(run_stack_rule(rule, [*networks, backup])) == 1


def test_offsite_repository_is_pinned_to_its_own_label() -> None:
    rule = service_rollout.data_service_pinned
    offsite = service_item("offsite", "backup-offsite", taskSpec={"placement": {"constraints": []}})
    (message,) = run_resource_rule(rule, SERVICE, offsite["inputs"])
    assert '["node.labels.pap.offsite == true"]' in message
    offsite["inputs"]["taskSpec"]["placement"]["constraints"] = ["node.labels.pap.offsite == true"]
    assert run_resource_rule(rule, SERVICE, offsite["inputs"]) == []


def test_two_proxies_publishing_is_not_a_single_ingress() -> None:
    ports = {"ports": [{"targetPort": 8443, "publishedPort": 8443, "publishMode": "host"}]}
    resources = [
        service_item("p1", "proxy", endpointSpec=ports),
        service_item("p2", "proxy", endpointSpec=ports),
    ]
    assert len(run_stack_rule(service_network.single_ingress, resources)) == 2


# --- service_rollout ---------------------------------------------------------------------------------------


def test_failure_action_defaults_to_pause() -> None:
    rule = service_rollout.service_update_rollback
    assert run_resource_rule(rule, SERVICE, {"updateConfig": {"order": "stop-first"}})
    assert run_resource_rule(rule, SERVICE, {"updateConfig": {"failureAction": "continue"}})
    assert run_resource_rule(rule, SERVICE, {"updateConfig": {"failureAction": "rollback"}}) == []


def test_start_first_applies_to_the_configured_stateless_roles() -> None:
    rule = service_rollout.stateless_service_start_first
    labels = [{"label": "pap.role", "value": "worker"}]
    stop_first = {"labels": labels, "updateConfig": {"order": "stop-first"}}
    assert run_resource_rule(rule, SERVICE, stop_first) == []
    assert run_resource_rule(rule, SERVICE, stop_first, {"statelessRoles": ["worker"]})
    good = {
        "labels": labels,
        "updateConfig": {"order": "start-first"},
        "rollbackConfig": {"order": "start-first"},
    }
    assert run_resource_rule(rule, SERVICE, good, {"statelessRoles": ["worker"]}) == []
    stop_rollback = {**good, "rollbackConfig": {"order": "stop-first"}}
    assert run_resource_rule(rule, SERVICE, stop_rollback, {"statelessRoles": ["worker"]})


def test_exclusive_services_need_stop_first() -> None:
    rule = service_rollout.exclusive_service_stop_first
    volume = service_props(mounts=[{"type": "volume", "source": "data", "target": "/data"}])
    tmpfs = service_props(mounts=[{"type": "tmpfs", "target": "/tmp"}])
    start_first = {"updateConfig": {"order": "start-first"}}
    assert run_resource_rule(rule, SERVICE, {**volume, **start_first})
    assert run_resource_rule(rule, SERVICE, {**volume, "updateConfig": {}}) == []  # stop-first is the default
    assert run_resource_rule(rule, SERVICE, {**tmpfs, **start_first}) == []
    host_port = {**tmpfs, **_published({"targetPort": 8443, "publishMode": "host"})}
    assert run_resource_rule(rule, SERVICE, {**host_port, "rollbackConfig": {"order": "start-first"}})


@pytest.mark.parametrize(
    ("mode", "fires"),
    [
        ({"replicated": {"replicas": 2}}, False),
        ({"replicated": {"replicas": 1}}, True),
        ({"replicated": {}}, True),  # Swarm's default: one replica
        ({"global": True}, False),
        (UNKNOWN_STRING_VALUE, False),
    ],
)
def test_replicas(mode: Any, fires: bool) -> None:
    props = {"labels": [{"label": "pap.role", "value": "backend"}], "mode": mode}
    messages = run_resource_rule(
        service_rollout.stateless_service_replicated, SERVICE, props, {"minReplicas": 2}
    )
    assert bool(messages) is fires


@pytest.mark.parametrize(
    ("constraints", "fires"),
    [
        (["node.labels.pap.data == true"], False),
        (["node.role == worker", "node.labels.zone==a"], False),
        (["node.hostname == node-1"], True),
        (["node.labels.pap.data != true"], True),
        ([], True),
    ],
)
def test_data_service_pinned_by_a_node_label(constraints: list[str], fires: bool) -> None:
    props = {
        "labels": [{"label": "pap.role", "value": "cache"}],
        "taskSpec": {"placement": {"constraints": constraints}},
    }
    assert bool(run_resource_rule(service_rollout.data_service_pinned, SERVICE, props)) is fires
