"""TLS: the proxy's CA and server certificate, pgBackRest's own CA and its hosts' certificates (client and
server), real PEM material, and a provided certificate for prod (the proxy's only)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from infra.plan import PlanRun, RecordedResource
from tests.infra.helpers import (
    config_mounts,
    inputs,
    mounted,
    of_type,
    run_stack,
    secret_mounts,
    the_service,
)

PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
LOCALLY_SIGNED = "tls:index/locallySignedCert:LocallySignedCert"
CERT_REQUEST = "tls:index/certRequest:CertRequest"
CERTIFICATE = "/run/pap/nginx/tls/server.crt"
PRIVATE_KEY_FILE = "/run/secrets/tls_key"
# pgBackRest's hosts: each is the role of its service and the alias peers dial; -> the task's UID.
PGBACKREST_HOSTS = {"database": "10010", "backup": "10040", "backup-offsite": "10040"}
PGBACKREST_CA = "/run/pap/pgbackrest-ca.crt"
PGBACKREST_CERT = "/run/pap/pgbackrest.crt"
PGBACKREST_KEY = "/run/secrets/pgbackrest.key"
# Logical names: the proxy's (infra/tls.py) and pgBackRest's (infra/backup.py's Archive).
PROXY_KEYS = {"tls-ca-key", "tls-server-key"}
PGBACKREST_KEYS = {
    "archive-ca-key",
    "archive-database-key",
    "archive-backup-key",
    "archive-backup-offsite-key",
}


def _by_name(plan: PlanRun, type_: str) -> dict[str, RecordedResource]:
    return {resource.name: resource for resource in of_type(plan, type_)}


def test_keys_are_ecdsa_p256_by_default(plan: PlanRun) -> None:
    keys = _by_name(plan, PRIVATE_KEY)
    # The proxy's CA and server; pgBackRest's CA and one key per host.
    assert set(keys) == PROXY_KEYS | PGBACKREST_KEYS
    assert all((inputs(k)["algorithm"], inputs(k)["ecdsaCurve"]) == ("ECDSA", "P256") for k in keys.values())


def test_lifetimes(plan: PlanRun) -> None:
    certificates = _by_name(plan, LOCALLY_SIGNED)
    assert set(certificates) == {"tls-server", "archive-database", "archive-backup", "archive-backup-offsite"}
    for name, certificate in certificates.items():
        assert inputs(certificate)["validityPeriodHours"] == 90 * 24, name
        assert inputs(certificate)["earlyRenewalHours"] == 30 * 24, name
    assert set(inputs(certificates["tls-server"])["allowedUses"]) == {"digital_signature", "server_auth"}
    # pgBackRest authenticates both ends of every connection: each host's certificate is client and server.
    for host in PGBACKREST_HOSTS:
        uses = set(inputs(certificates[f"archive-{host}"])["allowedUses"])
        assert uses == {"digital_signature", "server_auth", "client_auth"}, host
    authorities = _by_name(plan, SELF_SIGNED)
    assert set(authorities) == {"tls-ca", "archive-ca"}
    for ca in authorities.values():
        assert inputs(ca)["isCaCertificate"] is True, ca.name
        assert "cert_signing" in inputs(ca)["allowedUses"], ca.name
        assert inputs(ca)["validityPeriodHours"] == 365 * 24, ca.name  # caValidityDays' default
        assert inputs(ca)["validityPeriodHours"] >= inputs(certificates["tls-server"])["validityPeriodHours"]
    assert inputs(authorities["archive-ca"])["earlyRenewalHours"] == 30 * 24


def test_server_certificate_names(plan: PlanRun) -> None:
    requests = _by_name(plan, CERT_REQUEST)
    assert set(requests) == {
        "tls-server-csr",
        "archive-database-csr",
        "archive-backup-csr",
        "archive-backup-offsite-csr",
    }
    assert inputs(requests["tls-server-csr"])["dnsNames"] == ["localhost"]
    assert inputs(requests["tls-server-csr"])["ipAddresses"] == ["127.0.0.1"]
    for host in PGBACKREST_HOSTS:
        request = inputs(requests[f"archive-{host}-csr"])
        # The service's alias on its networks: what the peer dials and what tls-server-auth names.
        assert request["dnsNames"] == [host], host
        assert request["subject"]["commonName"] == host, host
        assert not request.get("ipAddresses"), host


def test_pgbackrest_hosts_present_certificates_of_their_own_ca(plan: PlanRun) -> None:
    """Each pgBackRest host mounts the pgBackRest CA, its own certificate (CN and DNS name its alias, client
    and server auth) and its key (a 0400 secret of its UID). The CA is not the proxy's: a certificate the
    proxy's CA signed, browsers' trust anchor, does not authenticate to pgBackRest."""
    proxy_ca = x509.load_pem_x509_certificate(plan.outputs["caCertificate"].encode())
    cas = set()
    for host, uid in PGBACKREST_HOSTS.items():
        service = the_service(plan, host)
        ca_pem = mounted(plan, service, PGBACKREST_CA)
        cas.add(ca_pem)
        ca = x509.load_pem_x509_certificate(ca_pem.encode())
        assert ca.subject.rfc4514_string() == (
            f"O=Presentation Analytics,CN=Presentation Analytics {plan.stack} pgBackRest CA"
        )
        assert ca.subject != proxy_ca.subject
        certificate = x509.load_pem_x509_certificate(mounted(plan, service, PGBACKREST_CERT).encode())
        certificate.verify_directly_issued_by(ca)
        assert certificate.issuer != proxy_ca.subject
        common_name = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        assert [attribute.value for attribute in common_name] == [host]
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == [host]
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}, host
        public_key = certificate.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1"
        assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == dt.timedelta(days=90)
        key = serialization.load_pem_private_key(mounted(plan, service, PGBACKREST_KEY).encode(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey), host
        assert key.public_key().public_numbers() == public_key.public_numbers(), host  # its own key
        key_mount = secret_mounts(service)[PGBACKREST_KEY]
        assert (key_mount["fileMode"], key_mount["fileUid"], key_mount["fileGid"]) == (0o400, uid, "0"), host
        for path in (PGBACKREST_CA, PGBACKREST_CERT):
            config = config_mounts(service)[path]
            assert (config["fileMode"], config["fileUid"]) == (0o444, uid), (host, path)
    assert len(cas) == 1  # one CA for the three hosts


def test_proxy_serves_a_real_certificate_chained_to_the_exported_ca(plan: PlanRun) -> None:
    proxy = the_service(plan, "proxy")
    certificate = x509.load_pem_x509_certificate(mounted(plan, proxy, CERTIFICATE).encode())
    ca = x509.load_pem_x509_certificate(plan.outputs["caCertificate"].encode())
    assert certificate.issuer == ca.subject
    certificate.verify_directly_issued_by(ca)
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1"
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime == dt.timedelta(days=90)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert config_mounts(proxy)[CERTIFICATE]["fileMode"] == 0o444
    # The private key is a Swarm secret (a config is stored in the clear), readable by nginx's user only.
    assert secret_mounts(proxy)[PRIVATE_KEY_FILE]["fileMode"] == 0o400
    assert secret_mounts(proxy)[PRIVATE_KEY_FILE]["fileUid"] == "10030"
    assert mounted(plan, proxy, PRIVATE_KEY_FILE).startswith("-----BEGIN")


def test_algorithm_and_lifetime_from_config(stack_outputs_dir: Path) -> None:
    run = run_stack(
        "dev",
        stack_outputs_dir,
        {"tls": {"algorithm": "RSA-2048", "validityDays": 30, "earlyRenewalDays": 10, "ipAddresses": []}},
    )
    keys = _by_name(run, PRIVATE_KEY)
    # tls.algorithm is the proxy's (what browsers negotiate); pgBackRest's keys stay ECDSA P-256.
    assert {(inputs(keys[name])["algorithm"], inputs(keys[name])["rsaBits"]) for name in PROXY_KEYS} == {
        ("RSA", 2048)
    }
    assert {(inputs(keys[n])["algorithm"], inputs(keys[n])["ecdsaCurve"]) for n in PGBACKREST_KEYS} == {
        ("ECDSA", "P256")
    }
    certificates = _by_name(run, LOCALLY_SIGNED)
    # The lifetimes are the stack's for every certificate, pgBackRest's too.
    for name, certificate in certificates.items():
        assert (inputs(certificate)["validityPeriodHours"], inputs(certificate)["earlyRenewalHours"]) == (
            720,
            240,
        ), name
    assert "key_encipherment" in inputs(certificates["tls-server"])["allowedUses"]


def test_provided_certificate_replaces_the_generated_ca(stack_outputs_dir: Path) -> None:
    dev = run_stack("dev", stack_outputs_dir)
    dev_proxy = the_service(dev, "proxy")
    provided = {
        "certificatePem": mounted(dev, dev_proxy, CERTIFICATE),
        "privateKeyPem": mounted(dev, dev_proxy, PRIVATE_KEY_FILE),
        "caCertificatePem": dev.outputs["caCertificate"],
    }
    run = run_stack(
        "prod", stack_outputs_dir, {"tls": {"providedCertificate": provided}}, secret_keys=("tls",)
    )
    # The proxy's key and CA are gone; pgBackRest's own CA and keys are not the proxy's, and stay.
    assert set(_by_name(run, PRIVATE_KEY)) == PGBACKREST_KEYS
    assert set(_by_name(run, SELF_SIGNED)) == {"archive-ca"}
    assert set(_by_name(run, LOCALLY_SIGNED)) == {
        "archive-database",
        "archive-backup",
        "archive-backup-offsite",
    }
    proxy = the_service(run, "proxy")
    assert mounted(run, proxy, CERTIFICATE) == provided["certificatePem"]
    assert mounted(run, proxy, PRIVATE_KEY_FILE) == provided["privateKeyPem"]
    assert run.outputs["caCertificate"] == provided["caCertificatePem"]
