"""The applying harness's own rules, without an engine: unmapped inputs fail by name, units convert right."""

from __future__ import annotations

import io
import tarfile

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e import docker_resources, keys
from tests.e2e.properties import UnmappedPropertyError, go_duration_ns, megabytes


def test_an_unmapped_container_input_fails_by_name() -> None:
    plan = docker_resources.ContainerPlan(name="x")
    with pytest.raises(UnmappedPropertyError, match="gpus"):
        docker_resources.CONTAINER_TABLE.apply(plan, {"image": "sha256:abc", "gpus": "all"})


def test_an_unmapped_nested_input_fails_by_name() -> None:
    plan = docker_resources.ContainerPlan(name="x")
    with pytest.raises(UnmappedPropertyError, match="startInterval2"):
        docker_resources.CONTAINER_TABLE.apply(
            plan, {"healthcheck": {"tests": ["CMD", "true"], "startInterval2": "1s"}}
        )


def test_container_inputs_become_engine_fields() -> None:
    plan = docker_resources.ContainerPlan(name="x")
    docker_resources.CONTAINER_TABLE.apply(
        plan,
        {
            "memory": 512,
            "memorySwap": 512,
            "cpus": "0.5",
            "readOnly": True,
            "capabilities": {"drops": ["ALL"]},
            "healthcheck": {
                "tests": ["CMD", "x"],
                "interval": "10s",
                "timeout": "5s",
                "startPeriod": "1m30s",
                "retries": 3,
            },
            "ports": [{"internal": 8443.0, "external": 443.0, "ip": "127.0.0.1"}],
            "restart": "on-failure",
            "maxRetryCount": 5,
            "uploads": [{"file": "/run/pap/secrets/k", "content": "s3cret", "permissions": "0440"}],
        },
    )
    assert plan.host["Memory"] == plan.host["MemorySwap"] == 512 * 1024 * 1024
    assert plan.host["NanoCpus"] == 500_000_000
    assert (
        plan.host["ReadonlyRootfs"] is True and plan.host["CapDrop"] == ["ALL"] and plan.host["CapAdd"] == []
    )
    assert plan.config["Healthcheck"] == {
        "Test": ["CMD", "x"],
        "Interval": 10 * 10**9,
        "Timeout": 5 * 10**9,
        "StartPeriod": 90 * 10**9,
        "Retries": 3,
    }
    assert plan.host["PortBindings"] == {"8443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "443"}]}
    assert plan.host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 5}
    assert plan.uploads == [("/run/pap/secrets/k", b"s3cret", 0o440)]


def test_upload_archive_is_root_owned_with_the_given_mode() -> None:
    data = docker_resources._upload_archive("/run/pap/a", b"x", 0o440)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        (entry,) = archive.getmembers()
    assert (entry.name, entry.uid, entry.gid, entry.mode) == ("/run/pap/a", 0, 0, 0o440)


@pytest.mark.parametrize(
    ("text", "nanos"), [("10s", 10**10), ("1m30s", 9 * 10**10), ("500ms", 5 * 10**8), ("0", 0)]
)
def test_go_durations(text: str, nanos: int) -> None:
    assert go_duration_ns(text) == nanos


def test_swap_minus_one_stays_unlimited() -> None:
    assert megabytes(-1) == -1 and megabytes(2) == 2 * 1024 * 1024


def test_tls_material_follows_the_declared_inputs() -> None:
    _, key = keys.private_key({"algorithm": "ECDSA", "ecdsaCurve": "P384"})
    assert isinstance(keys.load_private_key(key["privateKeyPem"]), ec.EllipticCurvePrivateKey)
    assert keys.load_private_key(key["privateKeyPem"]).curve.name == "secp384r1"  # type: ignore[union-attr]
    _, ca = keys.self_signed_cert(
        {
            "privateKeyPem": key["privateKeyPem"],
            "subject": {"commonName": "e2e CA"},
            "validityPeriodHours": 48,
            "isCaCertificate": True,
            "allowedUses": ["cert_signing"],
            "earlyRenewalHours": 1,
        }
    )
    certificate = x509.load_pem_x509_certificate(ca["certPem"].encode())
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime.total_seconds() == 48 * 3600
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True


def test_random_password_honours_its_inputs() -> None:
    _, outputs = keys.random_characters({"length": 40, "special": False, "minNumeric": 5})
    result = outputs["result"]
    assert len(result) == 40 and result.isalnum() and sum(c.isdigit() for c in result) >= 5
