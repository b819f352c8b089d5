"""Every Swarm service of both stacks: CIS Docker 5.x hardening, resources, rollout, placement, networks."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import ServiceResources, StackConfig
from infra.plan import PlanRun
from tests.infra.helpers import (
    EXPECTED_UIDS,
    MIB,
    NANO,
    NETWORK,
    RANDOM_PASSWORD,
    REMOTE_IMAGE,
    SECRET,
    SERVICE,
    SERVICE_CONFIG,
    STACK_REFERENCE,
    VOLUME,
    container_spec,
    inputs,
    labels,
    named,
    networks,
    of_type,
    role_of,
    run_stack,
    seconds,
    services,
    task_spec,
    the_service,
    validated,
)

# One writer per volume, each pinned to the node that holds its volume: the data node for the database,
# the cache and the local backup repository; the node labelled pap.offsite for the off-host repository.
DATA_TIER = ("database", "cache", "backup", "backup-offsite")
DATA_NODE = "node.labels.pap.data == true"
OFFSITE_NODE = "node.labels.pap.offsite == true"
PLACEMENT = {"database": DATA_NODE, "cache": DATA_NODE, "backup": DATA_NODE, "backup-offsite": OFFSITE_NODE}
INGRESS_NODE = "node.labels.pap.ingress == true"
SERVICE_LABELS = ("pap.project", "pap.role", "pap.stack")
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
CERT_REQUEST = "tls:index/certRequest:CertRequest"
LOCALLY_SIGNED = "tls:index/locallySignedCert:LocallySignedCert"


def _service_config(config: StackConfig, role: str) -> ServiceResources:
    """The stack config section whose limits a role's service gets (the migration: the backend's)."""
    section = {"migrate": "backend", "backup-offsite": "backup"}.get(role, role)
    return getattr(config, section)


def test_every_role_is_one_service(plan: PlanRun) -> None:
    assert sorted(role_of(service) for service in services(plan)) == sorted(EXPECTED_UIDS)
    for service in services(plan):
        # Logical and physical name agree, so `docker service ls` and `pulumi stack` name the same thing.
        assert service.name == inputs(service)["name"]
        assert inputs(service)["name"].startswith(f"pap-{plan.stack}-")


def test_every_service_runs_hardened(plan: PlanRun) -> None:
    for service in services(plan):
        name, role = service.name, role_of(service)
        spec = container_spec(service)
        assert spec["user"] == f"{EXPECTED_UIDS[role]}:0", name
        assert spec["readOnly"] is True, name
        assert spec["capDrops"] == ["ALL"], name
        assert not spec.get("capAdds"), name
        # `commands` would replace the image's ENTRYPOINT (its init and its privilege checks).
        assert "commands" not in spec, name
        assert spec["image"].startswith("sha256:") and len(spec["image"]) == 71, name
        for forbidden in ("privileges", "isolation", "hostname", "hosts", "sysctl"):
            assert not spec.get(forbidden), (name, forbidden)


def test_writable_paths_are_tmpfs_or_named_volumes(plan: PlanRun) -> None:
    volumes = {inputs(volume)["name"] for volume in of_type(plan, VOLUME)}
    for service in services(plan):
        mounts = container_spec(service)["mounts"]
        assert {mount["type"] for mount in mounts} <= {"tmpfs", "volume"}, service.name  # never a bind
        tmpfs = {m["target"]: m["tmpfsOptions"] for m in mounts if m["type"] == "tmpfs"}
        assert "/tmp" in tmpfs, service.name
        assert all(0 < options["sizeBytes"] <= 256 * MIB for options in tmpfs.values()), service.name
        for mount in (m for m in mounts if m["type"] == "volume"):
            assert mount["source"] in volumes, (service.name, mount)
            assert mount["source"].startswith(f"pap-{plan.stack}-")


def test_limits_and_reservations_come_from_the_stack_config(plan: PlanRun) -> None:
    config = validated(plan.stack)
    for service in services(plan):
        section = _service_config(config, role_of(service))
        resources = task_spec(service)["resources"]
        assert resources["limits"] == {
            "memoryBytes": section.limits.memory_mb * MIB,
            "nanoCpus": round(section.limits.cpus * NANO),
        }, service.name
        reserved = section.reserved
        assert resources["reservation"] == {
            "memoryBytes": reserved.memory_mb * MIB,
            "nanoCpus": round(reserved.cpus * NANO),
        }, service.name
        # Reserved (what the scheduler sets aside) is never more than the limit, and never nothing.
        assert 0 < resources["reservation"]["memoryBytes"] <= resources["limits"]["memoryBytes"]
        assert 0 < resources["reservation"]["nanoCpus"] <= resources["limits"]["nanoCpus"]


def test_configured_reservations_reach_the_services(stack_outputs_dir: Path) -> None:
    overrides = {
        "backend": {"reservations": {"memoryMb": 300, "cpus": 0.75}},
        "database": {"limits": {"memoryMb": 2048, "cpus": 2}, "reservations": {"memoryMb": 1024, "cpus": 1}},
    }
    run = run_stack("dev", stack_outputs_dir, overrides)
    for role in ("backend", "migrate"):
        resources = task_spec(the_service(run, role))["resources"]
        assert resources["reservation"] == {"memoryBytes": 300 * MIB, "nanoCpus": 750_000_000}, role
        assert resources["limits"] == {"memoryBytes": 512 * MIB, "nanoCpus": NANO}, role
    database = task_spec(the_service(run, "database"))["resources"]
    assert database == {
        "limits": {"memoryBytes": 2048 * MIB, "nanoCpus": 2 * NANO},
        "reservation": {"memoryBytes": 1024 * MIB, "nanoCpus": NANO},
    }


HEALTH_TESTS = {
    "migrate": ["CMD", "test", "-f", "/tmp/pap-migrated"],
    # The repositories run the database image: its pap-healthcheck is PostgreSQL's, so theirs is their own.
    "backup": ["CMD", "pap-repository", "health"],
    "backup-offsite": ["CMD", "pap-repository", "health"],
}


def test_every_service_has_a_health_check(plan: PlanRun) -> None:
    for service in services(plan):
        health = container_spec(service)["healthcheck"]
        expected = HEALTH_TESTS.get(role_of(service), ["CMD", "pap-healthcheck"])
        assert health["tests"] == expected, service.name
        assert seconds(health["interval"]) > 0 and seconds(health["timeout"]) > 0, service.name
        assert health["retries"] >= 1 and seconds(health["startPeriod"]) > 0, service.name


def test_tasks_restart_on_failure_a_bounded_number_of_times(plan: PlanRun) -> None:
    """CIS 5.15: restart on failure, at most 5 times per window: a crashing task is not restarted forever."""
    for service in services(plan):
        policy = task_spec(service)["restartPolicy"]
        assert policy["condition"] == "on-failure", service.name
        assert policy["maxAttempts"] == 5, service.name
        assert seconds(policy["window"]) > 0 and seconds(policy["delay"]) > 0, service.name


def test_logs_are_bounded(plan: PlanRun) -> None:
    for service in services(plan):
        assert task_spec(service)["logDriver"] == {
            "name": "json-file",
            "options": {"max-size": "10m", "max-file": "3"},
        }, service.name


def test_tasks_carry_the_service_labels(plan: PlanRun) -> None:
    """Task containers are found by pap.stack / pap.role (teardown, the e2e harness, operators)."""
    for service in services(plan):
        assert set(labels(service)) == set(SERVICE_LABELS), service.name
        task_labels = {item["label"]: item["value"] for item in container_spec(service)["labels"]}
        assert task_labels == labels(service), service.name
        assert labels(service)["pap.stack"] == plan.stack


def test_tasks_fail_name_lookups_fast(plan: PlanRun) -> None:
    """A name without a running task is forwarded upstream by Swarm's resolver: one 1 s try, not 5 s x 2;
    the nameserver is the embedded resolver itself, so nothing else about resolution changes."""
    for service in services(plan):
        dns = container_spec(service).get("dnsConfig") or {}
        assert dns.get("options") == ["timeout:1", "attempts:1"], service.name
        assert dns.get("nameservers") == ["127.0.0.11"], service.name


def test_stop_grace_periods(plan: PlanRun) -> None:
    grace = {service.name: seconds(container_spec(service)["stopGracePeriod"]) for service in services(plan)}
    assert grace[f"pap-{plan.stack}-db"] >= 60  # a checkpoint before exit
    assert all(value >= 10 for value in grace.values()), grace


# ---------------------------------------------------------------- rollout


STATELESS = ("backend", "web")


def _order(role: str) -> str:
    # A new backend or web task is healthy before an old one stops; the others cannot run two tasks at once
    # (a host-mode port, one writer per volume, one migration).
    return "start-first" if role in STATELESS else "stop-first"


def test_updates_roll_one_task_at_a_time_and_roll_back_on_failure(plan: PlanRun) -> None:
    for service in services(plan):
        update = inputs(service)["updateConfig"]
        assert update["order"] == _order(role_of(service)), service.name
        assert update["parallelism"] == 1, service.name
        assert update["failureAction"] == "rollback", service.name
        assert update["maxFailureRatio"] == "0", service.name
        assert seconds(update["delay"]) >= 0, service.name


def test_rollbacks_use_the_same_order_and_pause_when_they_fail(plan: PlanRun) -> None:
    for service in services(plan):
        rollback = inputs(service)["rollbackConfig"]
        assert rollback["order"] == _order(role_of(service)), service.name
        assert rollback["parallelism"] == 1, service.name
        assert rollback["failureAction"] == "pause", service.name  # never a loop of rollbacks
        assert rollback["monitor"] == inputs(service)["updateConfig"]["monitor"], service.name


def test_updates_watch_a_task_long_enough_for_its_health_check_to_fail_it(plan: PlanRun) -> None:
    for service in services(plan):
        health = container_spec(service)["healthcheck"]
        least = seconds(health["interval"]) * health["retries"] + seconds(health["timeout"])
        for key in ("updateConfig", "rollbackConfig"):
            assert seconds(inputs(service)[key]["monitor"]) >= least, (service.name, key)


def test_the_provider_waits_for_every_service_to_converge(plan: PlanRun) -> None:
    for service in services(plan):
        converge = inputs(service)["convergeConfig"]
        assert seconds(converge["delay"]) > 0, service.name
        # Long enough for a task to become healthy after its start period (initdb, the migration).
        health = container_spec(service)["healthcheck"]
        slowest = seconds(health["startPeriod"]) + seconds(health["interval"]) * health["retries"]
        assert seconds(converge["timeout"]) >= slowest, service.name


# ---------------------------------------------------------------- replicas and placement


def test_backend_and_web_replicas_come_from_the_stack_config(dev: PlanRun, prod: PlanRun) -> None:
    for plan in (dev, prod):
        config = validated(plan.stack)
        expected = {"backend": config.backend.replicas, "web": config.web.replicas}
        for service in services(plan):
            replicas = inputs(service)["mode"]["replicated"]["replicas"]
            assert replicas == expected.get(role_of(service), 1), service.name
    assert inputs(the_service(prod, "backend"))["mode"]["replicated"]["replicas"] == 3
    assert inputs(the_service(prod, "web"))["mode"]["replicated"]["replicas"] == 2


def test_configured_replicas_reach_the_backend(stack_outputs_dir: Path) -> None:
    run = run_stack("dev", stack_outputs_dir, {"backend": {"replicas": 2}})
    assert inputs(the_service(run, "backend"))["mode"] == {"replicated": {"replicas": 2}}
    assert inputs(the_service(run, "migrate"))["mode"] == {"replicated": {"replicas": 1}}


def _constraints(plan: PlanRun, role: str) -> list[str]:
    return list((task_spec(the_service(plan, role)).get("placement") or {}).get("constraints") or [])


def test_data_tier_is_pinned_to_the_node_of_its_volume(plan: PlanRun) -> None:
    for role in DATA_TIER:
        assert _constraints(plan, role) == [PLACEMENT[role]], role
    # The off-host repository is never placed by the data node's label: it must survive that node.
    assert DATA_NODE not in _constraints(plan, "backup-offsite")


def test_proxy_is_pinned_to_the_ingress_node(plan: PlanRun) -> None:
    assert _constraints(plan, "proxy") == [INGRESS_NODE]


def test_backend_migration_and_web_spread_over_the_nodes(plan: PlanRun) -> None:
    for role in ("backend", "migrate", "web"):
        assert _constraints(plan, role) == [], role


# ---------------------------------------------------------------- networks and ports


def _network_internal(plan: PlanRun) -> dict[str, bool]:
    return {inputs(n)["name"]: inputs(n)["internal"] for n in of_type(plan, NETWORK)}


def test_networks_are_overlays_that_no_stray_container_joins(plan: PlanRun) -> None:
    declared = {inputs(n)["name"]: inputs(n) for n in of_type(plan, NETWORK)}
    stack = plan.stack
    assert set(declared) == {
        f"pap-{stack}-edge",
        f"pap-{stack}-app",
        f"pap-{stack}-data",
        f"pap-{stack}-offsite",
    }
    for name, values in declared.items():
        assert values["driver"] == "overlay", name
        assert values["attachable"] is False, name
    assert _network_internal(plan) == {
        f"pap-{stack}-edge": False,
        f"pap-{stack}-app": True,
        f"pap-{stack}-data": True,
        f"pap-{stack}-offsite": True,
    }
    # IPsec between nodes on the internal overlays as the stack asks (prod: the default, true; dev: false,
    # these kernels have no ESP); the edge carries TLS already. The offsite network crosses nodes by design.
    encrypted = {"encrypted": ""} if stack == "prod" else None
    assert declared[f"pap-{stack}-app"].get("options") == encrypted
    assert declared[f"pap-{stack}-data"].get("options") == encrypted
    assert declared[f"pap-{stack}-offsite"].get("options") == encrypted
    assert not declared[f"pap-{stack}-edge"].get("options")


def test_network_encryption_follows_the_stack_config(stack_outputs_dir: Path) -> None:
    run = run_stack("dev", stack_outputs_dir, {"network": {"encrypted": False}})
    assert all(not inputs(network).get("options") for network in of_type(run, NETWORK))


def test_data_tier_only_on_internal_networks(plan: PlanRun) -> None:
    """The data tier joins the data network, and the database and the off-host repository also (the
    off-host repository only) the offsite network; both are internal, and none of them publishes a port."""
    data, offsite = f"pap-{plan.stack}-data", f"pap-{plan.stack}-offsite"
    expected = {
        "database": [data, offsite],
        "cache": [data],
        "backup": [data],
        "backup-offsite": [offsite],
    }
    internal = _network_internal(plan)
    for role in DATA_TIER:
        service = the_service(plan, role)
        attached = list(networks(service))
        assert attached == expected[role], role
        assert all(internal[name] is True for name in attached), role
        assert not inputs(service)["endpointSpec"].get("ports"), role


def test_data_services_answer_by_their_aliases(plan: PlanRun) -> None:
    """pgBackRest's hosts find each other by these names, which are also their certificates' names."""
    data, offsite = f"pap-{plan.stack}-data", f"pap-{plan.stack}-offsite"
    assert networks(the_service(plan, "database")) == {data: ["database"], offsite: ["database"]}
    assert networks(the_service(plan, "cache")) == {data: ["cache"]}
    assert networks(the_service(plan, "backup")) == {data: ["backup"]}
    assert networks(the_service(plan, "backup-offsite")) == {offsite: ["backup-offsite"]}


def test_only_the_database_and_the_offsite_repository_join_the_offsite_network(plan: PlanRun) -> None:
    """The off-host path does not depend on the data network: a lost data network or node leaves the
    database and the off-host repository still connected, and no other service reaches either there."""
    offsite = f"pap-{plan.stack}-offsite"
    joined = sorted(role_of(service) for service in services(plan) if offsite in networks(service))
    assert joined == ["backup-offsite", "database"]
    assert f"pap-{plan.stack}-data" not in networks(the_service(plan, "backup-offsite"))


def test_proxy_never_joins_the_data_network(plan: PlanRun) -> None:
    attached = networks(the_service(plan, "proxy"))
    assert set(attached) == {f"pap-{plan.stack}-edge", f"pap-{plan.stack}-app"}
    internal = _network_internal(plan)
    assert internal[f"pap-{plan.stack}-edge"] is False
    assert internal[f"pap-{plan.stack}-app"] is True


def test_backend_joins_the_app_network_as_one_alias_and_the_data_network(plan: PlanRun) -> None:
    # The proxy's upstream is the service's virtual IP behind this alias, never task addresses.
    assert networks(the_service(plan, "backend")) == {
        f"pap-{plan.stack}-app": ["backend"],
        f"pap-{plan.stack}-data": [],
    }


def test_web_joins_only_the_app_network_as_one_alias(plan: PlanRun) -> None:
    # The proxy is its only client; it reaches no database, cache or backup, and the edge does not reach it.
    assert networks(the_service(plan, "web")) == {f"pap-{plan.stack}-app": ["web"]}
    assert not inputs(the_service(plan, "web"))["endpointSpec"].get("ports")


def test_migration_reaches_only_the_database(plan: PlanRun) -> None:
    assert networks(the_service(plan, "migrate")) == {f"pap-{plan.stack}-data": []}


def test_every_service_is_found_by_dns_round_robin(plan: PlanRun) -> None:
    # No IPVS in these kernels, so no virtual IP: the service name resolves to its healthy tasks.
    for service in services(plan):
        assert inputs(service)["endpointSpec"]["mode"] == "dnsrr", service.name


def test_only_the_proxy_publishes_in_host_mode(plan: PlanRun) -> None:
    publishing = [s for s in services(plan) if inputs(s)["endpointSpec"].get("ports")]
    assert [role_of(s) for s in publishing] == ["proxy"]
    ports = inputs(publishing[0])["endpointSpec"]["ports"]
    assert {port["targetPort"] for port in ports} == {8443, 8080}
    for port in ports:
        # Host mode: bound on the ingress node (where docker_gwbridge binds), never the routing mesh.
        assert port["publishMode"] == "host" and port["protocol"] == "tcp", port
        assert port["publishedPort"] >= 1024, port


def test_configured_ports_are_published(dev: PlanRun, prod: PlanRun) -> None:
    def published(plan: PlanRun) -> dict[int, int]:
        ports = inputs(the_service(plan, "proxy"))["endpointSpec"]["ports"]
        return {port["targetPort"]: port["publishedPort"] for port in ports}

    for plan in (dev, prod):
        proxy = validated(plan.stack).proxy
        assert published(plan) == {8443: proxy.https_port, 8080: proxy.http_port}
    assert published(dev) == {8443: 8443, 8080: 8080}
    assert published(prod) == {8443: 9443, 8080: 9080}


# ---------------------------------------------------------------- names, labels, counts, order


def test_names_and_labels_carry_project_and_stack(plan: PlanRun) -> None:
    labelled = [*services(plan), *of_type(plan, NETWORK), *of_type(plan, VOLUME), *of_type(plan, SECRET)]
    for resource in labelled:
        values = inputs(resource)
        assert values["name"].startswith(f"pap-{plan.stack}-"), values["name"]
        found = {item["label"]: item["value"] for item in values.get("labels", [])}
        assert found["pap.project"] == "presentation-analytics", values["name"]
        assert found["pap.stack"] == plan.stack, values["name"]
    for config in of_type(plan, SERVICE_CONFIG):  # pulumi-docker gives configs no labels: the name says it
        assert inputs(config)["name"].startswith(f"pap-{plan.stack}-")


@pytest.mark.parametrize(
    ("stack", "counts"),
    [
        # 8 services (two backup repositories); 6 passwords (the admin's too) + redis.conf + the database's
        # pgpass + the proxy's TLS key + 3 pgBackRest keys (database, backup, backup-offsite) + 2 repository
        # secret includes (cipher passphrases); nginx.conf + proxy certificate + 3 pgBackRest configs + the
        # pgBackRest CA + 3 pgBackRest certificates; db data + 2 repository volumes; 4 networks; 6 + 2
        # cipher passphrases; 5 images (no backup image: the repositories run the database's); 16 TLS
        # resources (proxy: 2 keys, CA, request, certificate; pgBackRest: 4 keys, CA, 3 requests, 3
        # certificates); 11 components.
        (
            "dev",
            {
                SERVICE: 8,
                SECRET: 14,
                SERVICE_CONFIG: 9,
                VOLUME: 3,
                NETWORK: 4,
                RANDOM_PASSWORD: 8,
                REMOTE_IMAGE: 5,
                STACK_REFERENCE: 0,
                PRIVATE_KEY: 6,
                SELF_SIGNED: 2,
                CERT_REQUEST: 4,
                LOCALLY_SIGNED: 4,
                "total": 78,
            },
        ),
        # No admin password; Redis AOF adds a data volume; no service or web image but a StackReference
        # and the Promotion component.
        (
            "prod",
            {
                SERVICE: 8,
                SECRET: 13,
                SERVICE_CONFIG: 9,
                VOLUME: 4,
                NETWORK: 4,
                RANDOM_PASSWORD: 7,
                REMOTE_IMAGE: 3,
                STACK_REFERENCE: 1,
                PRIVATE_KEY: 6,
                SELF_SIGNED: 2,
                CERT_REQUEST: 4,
                LOCALLY_SIGNED: 4,
                "total": 77,
            },
        ),
    ],
)
def test_resource_counts(stack: str, counts: dict[str, int], request: pytest.FixtureRequest) -> None:
    plan: PlanRun = request.getfixturevalue(stack)
    assert not [r for r in plan.resources if r.type == "docker:index/container:Container"]
    for type_, expected in counts.items():
        found = len(plan.resources) if type_ == "total" else len(of_type(plan, type_))
        assert found == expected, type_


def test_each_tier_is_up_before_the_next_rolls(plan: PlanRun) -> None:
    database, cache = named(plan, f"pap-{plan.stack}-db"), named(plan, f"pap-{plan.stack}-cache")
    migrate, backend = the_service(plan, "migrate"), the_service(plan, "backend")
    assert {database.urn, cache.urn} <= set(migrate.dependencies)
    # The provider waits for convergence, so a new image is migrated before any new backend task starts.
    assert {database.urn, cache.urn, migrate.urn} <= set(backend.dependencies)
    assert backend.urn in the_service(plan, "proxy").dependencies
    assert the_service(plan, "web").urn in the_service(plan, "proxy").dependencies
    assert database.urn in the_service(plan, "backup").dependencies
    assert database.urn in the_service(plan, "backup-offsite").dependencies
