"""Components and the service recipe one at a time under the mock runtime: what each declares on its own."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pulumi
import pytest
from cryptography import x509
from pulumi.runtime import settings

from infra.config import (
    BackupConfig,
    DatabaseConfig,
    Limits,
    NetworkConfig,
    OffsiteRepository,
    Reservations,
    RotationConfig,
    TlsConfig,
)
from infra.credentials import Secrets
from infra.mocks import RealisticMocks, is_secret_value
from infra.naming import Naming
from infra.networks import Networks, first_subnet
from infra.plan import RecordedResource, RecordingMonitor
from infra.swarm import (
    ConfigFile,
    Health,
    NetworkAttachment,
    Port,
    SecretFile,
    ServiceSpec,
    hardened_service,
    swarm_config,
    swarm_secret,
)
from infra.tls import Tls
from tests.infra.helpers import NETWORK, SECRET, SERVICE, SERVICE_CONFIG, inputs

NAMING = Naming("presentation-analytics", "unit")
IMAGE = "sha256:" + "a" * 64


def record(build: Callable[[], Any]) -> tuple[list[RecordedResource], dict[str, Any]]:
    """Runs `build` as a program; returns what it registered and the values of the outputs it returned."""
    monitor = RecordingMonitor(RealisticMocks())
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(monitor.mocks, project="presentation-analytics", stack="unit", monitor=monitor)
    resolved: dict[str, Any] = {}

    def program() -> pulumi.Output[None]:
        outputs: dict[str, Any] = build() or {}
        return pulumi.Output.all(**outputs).apply(resolved.update)

    pulumi.runtime.test(program)()
    return monitor.records, resolved


def _of(records: list[RecordedResource], type_: str) -> dict[str, RecordedResource]:
    return {inputs(r)["name"]: r for r in records if r.type == type_}


# ---------------------------------------------------------------- networks


@pytest.mark.parametrize("encrypted", [True, False])
def test_networks_component(encrypted: bool) -> None:
    def build() -> dict[str, Any]:
        component = Networks("networks", NAMING, NetworkConfig(encrypted=encrypted))
        assert component.egress is None  # only an off-host repository in S3 needs a way out
        return {"edge": component.edge.name, "offsite": component.offsite.name}

    records, outputs = record(build)
    assert [r.type for r in records].count("pap:platform:Networks") == 1
    networks = {name: inputs(r) for name, r in _of(records, NETWORK).items()}
    assert {name: values["internal"] for name, values in networks.items()} == {
        "pap-unit-edge": False,
        "pap-unit-app": True,
        "pap-unit-data": True,
        "pap-unit-offsite": True,
    }
    assert {values["driver"] for values in networks.values()} == {"overlay"}
    assert {values["attachable"] for values in networks.values()} == {False}
    expected = {"encrypted": ""} if encrypted else None
    assert networks["pap-unit-app"].get("options") == expected
    assert networks["pap-unit-data"].get("options") == expected
    assert networks["pap-unit-offsite"].get("options") == expected
    assert networks["pap-unit-edge"].get("options") is None
    assert all(r.parent.endswith("pap:platform:Networks::networks") for r in records if r.type == NETWORK)
    assert outputs == {"edge": "pap-unit-edge", "offsite": "pap-unit-offsite"}


def test_networks_component_with_offsite_egress() -> None:
    def build() -> dict[str, Any]:
        component = Networks("networks", NAMING, NetworkConfig(encrypted=True), offsite_egress=True)
        assert component.egress is not None
        return {"egress": component.egress.name}

    records, outputs = record(build)
    networks = {name: inputs(r) for name, r in _of(records, NETWORK).items()}
    assert {name: values["internal"] for name, values in networks.items()} == {
        "pap-unit-edge": False,
        "pap-unit-app": True,
        "pap-unit-data": True,
        "pap-unit-offsite": True,
        "pap-unit-egress": False,  # a way out to the bucket's endpoint
    }
    egress = networks["pap-unit-egress"]
    assert (egress["driver"], egress["attachable"], egress.get("options")) == ("overlay", False, None)
    assert networks["pap-unit-offsite"].get("options") == {"encrypted": ""}
    assert outputs == {"egress": "pap-unit-egress"}


def test_first_subnet() -> None:
    assert first_subnet([{"subnet": "10.0.1.0/24", "gateway": "10.0.1.1"}, {"subnet": "10.0.2.0/24"}]) == (
        "10.0.1.0/24"
    )
    assert first_subnet([{"gateway": "10.0.1.1"}, {"subnet": "10.0.9.0/24"}]) == "10.0.9.0/24"
    assert first_subnet([SimpleNamespace(subnet="10.0.3.0/24")]) == "10.0.3.0/24"  # the SDK's output type
    # Unknown (a network Docker has not created yet): only loopback is trusted for X-Forwarded-For.
    assert first_subnet([]) == first_subnet(None) == "127.0.0.1"


# ---------------------------------------------------------------- TLS


def test_tls_component_issues_a_chain_for_the_names() -> None:
    def build() -> dict[str, Any]:
        component = Tls("tls", TlsConfig(), ["pap.example"], "unit")
        return {"cert": component.certificate_pem, "ca": component.ca_certificate_pem}

    records, outputs = record(build)
    certificate = x509.load_pem_x509_certificate(outputs["cert"].encode())
    certificate.verify_directly_issued_by(x509.load_pem_x509_certificate(outputs["ca"].encode()))
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["pap.example"]
    assert len(records) == 6  # the component, two keys, the CA, the request, the server certificate


# ---------------------------------------------------------------- the service recipe


def _spec(**changes: Any) -> ServiceSpec:
    values: dict[str, Any] = {
        "thing": "thing",
        "role": "backup",
        "image": IMAGE,
        "uid": 10040,
        "resources": BackupConfig(
            limits=Limits(memory_mb=64, cpus=0.25), reservations=Reservations(memory_mb=16, cpus=0.05)
        ),
        "networks": [NetworkAttachment("pap-unit-data", ("thing",))],
        **changes,
    }
    return ServiceSpec(**values)


def test_health_monitor_covers_the_failing_health_checks() -> None:
    assert Health().monitor() == "18s"  # 5 s x 3 retries + 3 s timeout
    assert Health(interval="10s", timeout="10s", retries=3).monitor() == "40s"
    assert Health(interval="1s", timeout="1s", retries=1).monitor() == "10s"  # never shorter than 10 s


def test_a_service_without_files_declares_only_itself() -> None:
    def build() -> None:
        parent = pulumi.ComponentResource("pap:platform:Unit", "unit")
        hardened_service(NAMING, _spec(), parent)

    records, _ = record(build)
    assert [inputs(r)["name"] for r in records if r.type.startswith("docker:")] == ["pap-unit-thing"]
    (service,) = [r for r in records if r.type == SERVICE]
    assert service.name == "pap-unit-thing"
    assert service.parent.endswith("pap:platform:Unit::unit")
    values = inputs(service)
    spec = values["taskSpec"]["containerSpec"]
    assert (spec["user"], spec["readOnly"], spec["capDrops"]) == ("10040:0", True, ["ALL"])
    assert "args" not in spec and "commands" not in spec  # the image's ENTRYPOINT and CMD
    assert spec["secrets"] == [] and spec["configs"] == []
    assert values["taskSpec"]["resources"] == {
        "limits": {"memoryBytes": 64 * 1024 * 1024, "nanoCpus": 250_000_000},
        "reservation": {"memoryBytes": 16 * 1024 * 1024, "nanoCpus": 50_000_000},
    }
    assert values["taskSpec"]["networksAdvanceds"] == [{"name": "pap-unit-data", "aliases": ["thing"]}]
    assert "placement" not in values["taskSpec"]
    assert values["endpointSpec"] == {"mode": "dnsrr", "ports": []}
    assert values["updateConfig"]["order"] == "stop-first"
    assert values["updateConfig"]["monitor"] == values["rollbackConfig"]["monitor"] == "18s"


def test_a_service_mounts_its_secrets_and_configs_by_id_and_name() -> None:
    def build() -> dict[str, Any]:
        parent = pulumi.ComponentResource("pap:platform:Unit", "unit")
        secret = swarm_secret(NAMING, "token", pulumi.Output.secret("s3cret-value"), parent)
        config = swarm_config(NAMING, "settings", "key = value\n", parent)
        spec = _spec(
            secrets=[SecretFile("token", secret)],
            configs=[ConfigFile("/run/pap/thing/settings.conf", config)],
            ports=[Port("https", internal=8443, external=9443)],
            constraints=["node.labels.pap.data == true"],
            order="start-first",
            replicas=2,
        )
        hardened_service(NAMING, spec, parent)
        return {"secret": secret.id, "config": config.id}

    records, ids = record(build)
    secret = _of(records, SECRET)["pap-unit-token-" + hashlib.sha256(b"s3cret-value").hexdigest()[:12]]
    config = _of(records, SERVICE_CONFIG)[
        "pap-unit-settings-" + hashlib.sha256(b"key = value\n").hexdigest()[:12]
    ]
    assert secret.name == "pap-unit-token" and config.name == "pap-unit-settings"
    assert is_secret_value(secret.inputs["data"])
    assert inputs(secret)["data"] == base64.b64encode(b"s3cret-value").decode()
    assert {item["label"]: item["value"] for item in inputs(secret)["labels"]} == {
        "pap.project": "presentation-analytics",
        "pap.stack": "unit",
    }
    assert not is_secret_value(config.inputs["data"])  # a config is not secret: nginx.conf, a certificate
    assert inputs(config)["data"] == base64.b64encode(b"key = value\n").decode()

    (service,) = [r for r in records if r.type == SERVICE]
    values = inputs(service)
    spec = values["taskSpec"]["containerSpec"]
    (mounted_secret,) = spec["secrets"]
    assert mounted_secret == {
        "secretId": ids["secret"],
        "secretName": inputs(secret)["name"],
        "fileName": "/run/secrets/token",
        "fileUid": "10040",
        "fileGid": "0",
        "fileMode": 0o400,
    }
    (mounted_config,) = spec["configs"]
    assert mounted_config == {
        "configId": ids["config"],
        "configName": inputs(config)["name"],
        "fileName": "/run/pap/thing/settings.conf",
        "fileUid": "10040",
        "fileGid": "0",
        "fileMode": 0o444,
    }
    assert {secret.urn, config.urn} <= set(service.dependencies)
    assert values["endpointSpec"]["ports"] == [
        {"name": "https", "protocol": "tcp", "targetPort": 8443, "publishedPort": 9443, "publishMode": "host"}
    ]
    assert values["taskSpec"]["placement"] == {"constraints": ["node.labels.pap.data == true"]}
    assert values["mode"] == {"replicated": {"replicas": 2}}
    assert values["updateConfig"]["order"] == values["rollbackConfig"]["order"] == "start-first"


# ---------------------------------------------------------------- secrets and backup


def test_secrets_component_declares_a_swarm_secret_per_credential() -> None:
    def build() -> dict[str, Any]:
        component = Secrets("secrets", NAMING, RotationConfig(jwt_key=2), with_admin=False)
        return {"jwt": component.jwt_key.value, "name": component.jwt_key.secret.name}

    records, outputs = record(build)
    secrets = {r.name: r for r in records if r.type == SECRET}
    assert set(secrets) == {
        "pap-unit-database-password",
        "pap-unit-database-app-password",
        "pap-unit-redis-password",
        "pap-unit-jwt-key",
        "pap-unit-metrics-token",
    }
    assert outputs["name"] == "pap-unit-jwt-key-" + hashlib.sha256(outputs["jwt"].encode()).hexdigest()[:12]
    assert all(r.parent.endswith("pap:platform:Secrets::secrets") for r in secrets.values())
    keepers = {r.name: inputs(r).get("keepers") for r in records if r.type.startswith("random:")}
    assert keepers["secrets-jwt-key"] == {"generation": "2"}
    assert keepers["secrets-database-password"] is None


def _backup_components(config: BackupConfig) -> tuple[list[RecordedResource], dict[str, Any]]:
    """Networks, secrets, the pgBackRest archive, the database and the two repositories, and nothing else."""
    from infra.backup import Archive, Backup
    from infra.database import Database

    def build() -> dict[str, Any]:
        networks = Networks("networks", NAMING, NetworkConfig())
        secrets = Secrets("secrets", NAMING, RotationConfig(), with_admin=False)
        archive = Archive(
            "archive",
            naming=NAMING,
            config=config,
            tls_config=TlsConfig(),
            superuser="owner",
            secrets=secrets,
        )
        database = Database(
            "database",
            naming=NAMING,
            database=DatabaseConfig(user="owner", name="analytics"),
            backup=config,
            archive=archive.database,
            image="sha256:" + "b" * 64,
            secrets=secrets,
            networks=networks,
        )
        backup = Backup(
            "backup",
            naming=NAMING,
            config=config,
            image="sha256:" + "b" * 64,
            archive=archive,
            database=database,
            networks=networks,
        )
        return {
            "volume": backup.volume.name,
            "service": backup.service.name,
            "offsiteVolume": backup.offsite_volume.name,
            "offsiteService": backup.offsite_service.name,
        }

    return record(build)


def test_backup_component_alone() -> None:
    config = BackupConfig(
        archive_timeout_seconds=30,
        full_interval_hours=48,
        diff_interval_hours=12,
        retention_full=3,
        retention_diff=5,
        verify_interval_hours=6,
        drill_interval_hours=24,
        offsite=OffsiteRepository(placement="node.labels.vault == true"),
        limits=Limits(memory_mb=384, cpus=0.75),
    )
    records, outputs = _backup_components(config)
    assert outputs == {
        "volume": "pap-unit-backups",
        "service": "pap-unit-backup",
        "offsiteVolume": "pap-unit-backups-offsite",
        "offsiteService": "pap-unit-backup-offsite",
    }
    services = _of(records, SERVICE)
    local, offsite = services["pap-unit-backup"], services["pap-unit-backup-offsite"]
    schedule = {
        "PGBACKREST_STANZA": "pap",
        "PAP_FULL_INTERVAL_SECONDS": "172800",
        "PAP_DIFF_INTERVAL_SECONDS": "43200",
        "PAP_VERIFY_INTERVAL_SECONDS": "21600",
        "PGBACKREST_CONFIG": "/run/pap/pgbackrest.conf",
        "PGBACKREST_CONFIG_INCLUDE_PATH": "/run/secrets/pgbackrest",
        "POSTGRES_DB": "analytics",
    }
    # The restore drill runs on the local repository's host only.
    assert inputs(local)["taskSpec"]["containerSpec"]["env"] == {
        **schedule,
        "PAP_REPO": "1",
        "PAP_DRILL_INTERVAL_SECONDS": "86400",
    }
    assert inputs(offsite)["taskSpec"]["containerSpec"]["env"] == {
        **schedule,
        "PAP_REPO": "2",
        "PAP_DRILL_INTERVAL_SECONDS": "0",
    }
    for service in (local, offsite):
        task = inputs(service)["taskSpec"]
        assert task["containerSpec"]["args"] == ["pap-repository", "run"], service.name
        assert task["containerSpec"]["image"] == "sha256:" + "b" * 64, service.name  # the database image
        assert task["containerSpec"]["user"] == "10040:0", service.name
        assert task["resources"]["limits"] == {"memoryBytes": 384 * 1024 * 1024, "nanoCpus": 750_000_000}
        assert services["pap-unit-db"].urn in service.dependencies, service.name
        assert service.parent.endswith("pap:platform:Backup::backup"), service.name
    assert inputs(local)["taskSpec"]["placement"] == {"constraints": ["node.labels.pap.data == true"]}
    assert inputs(offsite)["taskSpec"]["placement"] == {"constraints": ["node.labels.vault == true"]}
    assert inputs(local)["taskSpec"]["networksAdvanceds"] == [
        {"name": "pap-unit-data", "aliases": ["backup"]}
    ]
    assert inputs(offsite)["taskSpec"]["networksAdvanceds"] == [
        {"name": "pap-unit-offsite", "aliases": ["backup-offsite"]}
    ]
    database = inputs(services["pap-unit-db"])["taskSpec"]["containerSpec"]
    assert "archive_timeout=30s" in database["args"]
    # The superuser pgBackRest logs in as is the stack's database owner, on every host.
    for config_name in ("pap-unit-pgbackrest-database", "pap-unit-pgbackrest-backup"):
        (config,) = [r for r in records if r.type == SERVICE_CONFIG and r.name == config_name]
        assert "pg1-user=owner" in base64.b64decode(inputs(config)["data"]).decode().splitlines()


def test_archive_component_declares_its_material_under_itself() -> None:
    records, _ = _backup_components(BackupConfig())
    archive = [r for r in records if r.parent.endswith("pap:platform:BackupArchive::archive")]
    by_type: dict[str, set[str]] = {}
    for resource in archive:
        by_type.setdefault(resource.type, set()).add(resource.name)
    assert by_type == {
        "tls:index/privateKey:PrivateKey": {
            "archive-ca-key",
            "archive-database-key",
            "archive-backup-key",
            "archive-backup-offsite-key",
        },
        "tls:index/selfSignedCert:SelfSignedCert": {"archive-ca"},
        "tls:index/certRequest:CertRequest": {
            "archive-database-csr",
            "archive-backup-csr",
            "archive-backup-offsite-csr",
        },
        "tls:index/locallySignedCert:LocallySignedCert": {
            "archive-database",
            "archive-backup",
            "archive-backup-offsite",
        },
        "random:index/randomPassword:RandomPassword": {
            "archive-repo1-cipher-pass",
            "archive-repo2-cipher-pass",
        },
        SERVICE_CONFIG: {
            "pap-unit-pgbackrest-ca",
            "pap-unit-pgbackrest-database",
            "pap-unit-pgbackrest-database-cert",
            "pap-unit-pgbackrest-backup",
            "pap-unit-pgbackrest-backup-cert",
            "pap-unit-pgbackrest-backup-offsite",
            "pap-unit-pgbackrest-backup-offsite-cert",
        },
        SECRET: {
            "pap-unit-pgbackrest-database-key",
            "pap-unit-pgbackrest-backup-key",
            "pap-unit-pgbackrest-backup-offsite-key",
            "pap-unit-pgbackrest-repo1",
            "pap-unit-pgbackrest-repo2",
            "pap-unit-pgpass",
        },
    }
    passphrases = [r for r in archive if r.name.endswith("-cipher-pass")]
    assert all((inputs(p)["length"], inputs(p)["special"]) == (48, False) for p in passphrases)
    # Every secret's data is a Pulumi secret (the keys, the includes, the pgpass): encrypted in the state.
    assert all(is_secret_value(r.inputs["data"]) for r in archive if r.type == SECRET)
