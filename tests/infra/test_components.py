"""Components one at a time under the mock runtime: what each declares on its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_docker as docker
from cryptography import x509
from pulumi.runtime import settings

from infra.config import BackupConfig, Limits, TlsConfig
from infra.containers import ContainerSpec, FileUpload, NetworkAttachment, hardened_container
from infra.mocks import RealisticMocks
from infra.naming import Naming
from infra.networks import Networks
from infra.plan import RecordedResource, RecordingMonitor
from infra.tls import Tls
from tests.infra.helpers import CONTAINER, NETWORK, VOLUME, inputs

NAMING = Naming("presentation-analytics", "unit")


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


def test_networks_component() -> None:
    records, outputs = record(lambda: {"edge": Networks("networks", NAMING).edge.name})
    assert [r.type for r in records].count("pap:platform:Networks") == 1
    networks = {inputs(r)["name"]: inputs(r) for r in records if r.type == NETWORK}
    assert {name: values["internal"] for name, values in networks.items()} == {
        "pap-unit-edge": False,
        "pap-unit-app": True,
        "pap-unit-data": True,
    }
    assert all(r.parent.endswith("pap:platform:Networks::networks") for r in records if r.type == NETWORK)
    assert outputs == {"edge": "pap-unit-edge"}


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


def _spec(files: list[FileUpload]) -> ContainerSpec:
    return ContainerSpec(
        thing="thing",
        role="backup",
        image="sha256:" + "a" * 64,
        uid=10040,
        limits=Limits(memory_mb=64, cpus=0.25),
        networks=[NetworkAttachment("pap-unit-data")],
        files=files,
    )


def test_a_container_without_files_needs_no_seed() -> None:
    def build() -> None:
        parent = pulumi.ComponentResource("pap:platform:Unit", "unit")
        hardened_container(NAMING, _spec([]), parent)

    records, _ = record(build)
    assert [inputs(r)["name"] for r in records if r.type == CONTAINER] == ["pap-unit-thing"]
    assert not [r for r in records if r.type == VOLUME]


def test_a_container_with_files_gets_a_seed_and_a_files_volume() -> None:
    def build() -> None:
        parent = pulumi.ComponentResource("pap:platform:Unit", "unit")
        files = [FileUpload("/run/pap/secrets/x", pulumi.Output.secret("s3cret"), secret=True)]
        hardened_container(NAMING, _spec(files), parent)

    records, _ = record(build)
    containers = {inputs(r)["name"]: r for r in records if r.type == CONTAINER}
    assert set(containers) == {"pap-unit-thing", "pap-unit-thing-seed"}
    assert [inputs(r)["name"] for r in records if r.type == VOLUME] == ["pap-unit-thing-files"]
    assert inputs(containers["pap-unit-thing-seed"])["uploads"] == [
        {"file": "/run/pap/secrets/x", "content": "s3cret", "permissions": "0440"}
    ]
    assert containers["pap-unit-thing-seed"].urn in containers["pap-unit-thing"].dependencies


def test_backup_component_alone() -> None:
    from infra.backup import Backup

    def build() -> dict[str, Any]:
        database = docker.Container("database", image="sha256:" + "b" * 64)
        backup = Backup(
            "backup",
            NAMING,
            BackupConfig(interval_hours=6, keep_count=3, keep_days=2, drill_interval_hours=24),
            "sha256:" + "c" * 64,
            "database",
            5432,
            "pap",
            "pap",
            pulumi.Output.secret("pw"),
            "pap-unit-data",
            database,
        )
        return {"volume": backup.volume.name}

    records, outputs = record(build)
    container = next(r for r in records if r.type == CONTAINER and inputs(r).get("name") == "pap-unit-backup")
    environment = dict(item.split("=", 1) for item in inputs(container)["envs"])
    assert environment["BACKUP_INTERVAL_SECONDS"] == "21600"
    assert environment["RESTORE_DRILL_INTERVAL_SECONDS"] == "86400"
    assert (environment["BACKUP_KEEP_COUNT"], environment["BACKUP_KEEP_DAYS"]) == ("3", "2")
    assert outputs == {"volume": "pap-unit-backups"}
