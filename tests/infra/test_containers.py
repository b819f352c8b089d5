"""Every container of both stacks: CIS Docker 5.x hardening, networks, ports, labels, names."""

from __future__ import annotations

import pytest

from infra.plan import PlanRun
from tests.infra.helpers import (
    CONTAINER,
    NETWORK,
    VOLUME,
    by_role,
    inputs,
    is_seed,
    labels,
    named,
    of_type,
    seed_of,
    services,
)

EXPECTED_UIDS = {
    "proxy": 10030,
    "backend": 10001,
    "migrate": 10001,
    "database": 10010,
    "cache": 10020,
    "backup": 10040,
}
DATA_TIER = ("database", "cache")


def test_every_container_is_hardened(plan: PlanRun) -> None:
    containers = of_type(plan, CONTAINER)
    assert containers
    for container in containers:
        values = inputs(container)
        name = values["name"]
        role = labels(container)["pap.role"]
        assert values["user"] == f"{EXPECTED_UIDS[role]}:0", name
        assert values["capabilities"] == {"drops": ["ALL"]}, name
        assert values["securityOpts"] == ["no-new-privileges:true"], name
        assert values.get("privileged") is False, name
        assert values["memory"] > 0 and values["memorySwap"] == values["memory"], name
        assert float(values["cpus"]) > 0, name
        assert values["healthcheck"]["tests"] == ["CMD", "pap-healthcheck"], name
        assert values["logOpts"] == {"max-size": "10m", "max-file": "3"}, name
        assert values["image"].startswith("sha256:") and len(values["image"]) == 71, name
        for forbidden in ("networkMode", "pidMode", "ipcMode", "usernsMode"):
            assert values.get(forbidden) in (None, "none"), (name, forbidden)
        assert not values.get("devices") and not values.get("mounts"), name


def test_running_containers_are_read_only_and_restart_on_failure(plan: PlanRun) -> None:
    for container in services(plan):
        values = inputs(container)
        assert values["readOnly"] is True, values["name"]
        assert "/tmp" in values["tmpfs"], values["name"]
        if labels(container)["pap.role"] == "migrate":
            assert (values["restart"], values["mustRun"], values["attach"]) == ("no", False, True)
        else:
            assert values["restart"] == "on-failure" and 1 <= values["maxRetryCount"] <= 5, values["name"]
            assert values["wait"] is True and values["mustRun"] is True, values["name"]


def test_running_containers_fail_name_lookups_fast(plan: PlanRun) -> None:
    """A stopped peer's alias is forwarded upstream by Docker's resolver; one 1 s try, not 5 s x 2."""
    for container in of_type(plan, CONTAINER):
        values = inputs(container)
        if values.get("start") is not False:
            assert values["dnsOpts"] == ["timeout:1", "attempts:1"], values["name"]


def test_seeds_never_start_and_reach_nothing(plan: PlanRun) -> None:
    seeds = [container for container in of_type(plan, CONTAINER) if is_seed(container)]
    assert len(seeds) == len(services(plan))  # every running container gets its files from a seed
    for seed in seeds:
        values = inputs(seed)
        assert values["mustRun"] is False and values["networkMode"] == "none", values["name"]
        assert not values.get("ports") and not values.get("networksAdvanced"), values["name"]
        assert labels(seed)["pap.part"] == "seed"


def test_files_reach_read_only_containers_through_the_seeds_volume(plan: PlanRun) -> None:
    for container in services(plan):
        seed = seed_of(plan, container)
        seed_volume = {v["containerPath"]: v for v in inputs(seed)["volumes"]}["/run/pap"]
        mounted = {v["containerPath"]: v for v in inputs(container)["volumes"]}["/run/pap"]
        assert mounted["volumeName"] == seed_volume["volumeName"]
        assert mounted["readOnly"] is True
        assert seed.urn in container.dependencies
        assert labels(container)["pap.seed-id"]  # a new seed (new files) replaces the container
        assert all(upload["file"].startswith("/run/pap/") for upload in inputs(seed)["uploads"])


def test_only_the_proxy_publishes_on_the_bind_address(plan: PlanRun) -> None:
    publishing = [c for c in of_type(plan, CONTAINER) if inputs(c).get("ports")]
    assert [labels(c)["pap.role"] for c in publishing] == ["proxy"]
    ports = inputs(publishing[0])["ports"]
    assert {(p["internal"], p["ip"]) for p in ports} == {(8443, "127.0.0.1"), (8080, "127.0.0.1")}
    assert all(p["external"] >= 1024 for p in ports)
    assert all(inputs(c).get("publishAllPorts") is False for c in of_type(plan, CONTAINER))


def test_configured_ports_and_address_are_published(dev: PlanRun, prod: PlanRun) -> None:
    dev_ports = {p["internal"]: p["external"] for p in inputs(by_role(dev, "proxy")[0])["ports"]}
    prod_ports = {p["internal"]: p["external"] for p in inputs(by_role(prod, "proxy")[0])["ports"]}
    assert dev_ports == {8443: 8443, 8080: 8080}
    assert prod_ports == {8443: 9443, 8080: 9080}


def _network_internal(plan: PlanRun) -> dict[str, bool]:
    return {inputs(n)["name"]: inputs(n)["internal"] for n in of_type(plan, NETWORK)}


def test_data_tier_only_on_internal_networks(plan: PlanRun) -> None:
    internal = _network_internal(plan)
    for role in (*DATA_TIER, "backup"):
        for container in by_role(plan, role):
            networks = [n["name"] for n in inputs(container)["networksAdvanced"]]
            assert networks == [f"pap-{plan.stack}-data"]
            assert internal[networks[0]] is True
            assert not inputs(container).get("ports")


def test_proxy_never_joins_the_data_network(plan: PlanRun) -> None:
    networks = {n["name"] for n in inputs(by_role(plan, "proxy")[0])["networksAdvanced"]}
    assert networks == {f"pap-{plan.stack}-edge", f"pap-{plan.stack}-app"}
    internal = _network_internal(plan)
    assert internal[f"pap-{plan.stack}-edge"] is False
    assert internal[f"pap-{plan.stack}-app"] is True


def test_backends_join_app_and_data_networks_with_replica_aliases(plan: PlanRun) -> None:
    for index, replica in enumerate(
        sorted(by_role(plan, "backend"), key=lambda c: inputs(c)["name"]), start=1
    ):
        attachments = {n["name"]: n["aliases"] for n in inputs(replica)["networksAdvanced"]}
        assert attachments == {f"pap-{plan.stack}-app": [f"backend-{index}"], f"pap-{plan.stack}-data": []}


def test_names_and_labels_carry_project_and_stack(plan: PlanRun) -> None:
    for resource in [*of_type(plan, CONTAINER), *of_type(plan, NETWORK), *of_type(plan, VOLUME)]:
        values = inputs(resource)
        assert values["name"].startswith(f"pap-{plan.stack}-"), values["name"]
        found = {item["label"]: item["value"] for item in values.get("labels", [])}
        assert found["pap.project"] == "presentation-analytics"
        assert found["pap.stack"] == plan.stack


@pytest.mark.parametrize(
    ("stack", "counts"),
    [
        # 6 running containers + 6 seeds; 6 files volumes + db data + backups; 9 components.
        ("dev", {CONTAINER: 12, VOLUME: 8, NETWORK: 3, "total": 48}),
        # 3 replicas; Redis AOF adds a data volume; no service image but a StackReference; 10 components.
        ("prod", {CONTAINER: 16, VOLUME: 11, NETWORK: 3, "total": 55}),
    ],
)
def test_resource_counts(stack: str, counts: dict[str, int], request: pytest.FixtureRequest) -> None:
    plan: PlanRun = request.getfixturevalue(stack)
    for type_, expected in counts.items():
        found = len(plan.resources) if type_ == "total" else len(of_type(plan, type_))
        assert found == expected, type_


def test_role_counts(dev: PlanRun, prod: PlanRun) -> None:
    assert len(by_role(dev, "backend")) == 1 and len(by_role(prod, "backend")) == 3
    for plan in (dev, prod):
        for role in ("proxy", "migrate", "database", "cache", "backup"):
            assert len(by_role(plan, role)) == 1, (plan.stack, role)


def test_database_and_cache_start_healthy_before_the_backends(plan: PlanRun) -> None:
    database, cache = named(plan, f"pap-{plan.stack}-db"), named(plan, f"pap-{plan.stack}-cache")
    migrate = by_role(plan, "migrate")[0]
    assert {database.urn, cache.urn} <= set(migrate.dependencies)
    for replica in by_role(plan, "backend"):
        assert {database.urn, cache.urn, migrate.urn} <= set(replica.dependencies)
    proxy = by_role(plan, "proxy")[0]
    assert {replica.urn for replica in by_role(plan, "backend")} <= set(proxy.dependencies)
