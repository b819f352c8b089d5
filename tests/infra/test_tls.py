"""TLS: the CA and server certificate parameters, real PEM material, and a provided certificate for prod."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from infra.plan import PlanRun
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


def test_keys_are_ecdsa_p256_by_default(plan: PlanRun) -> None:
    keys = of_type(plan, PRIVATE_KEY)
    assert len(keys) == 2  # the CA's and the server's
    assert all((inputs(k)["algorithm"], inputs(k)["ecdsaCurve"]) == ("ECDSA", "P256") for k in keys)


def test_lifetimes(plan: PlanRun) -> None:
    (server,) = of_type(plan, LOCALLY_SIGNED)
    assert inputs(server)["validityPeriodHours"] == 90 * 24
    assert inputs(server)["earlyRenewalHours"] == 30 * 24
    assert set(inputs(server)["allowedUses"]) == {"digital_signature", "server_auth"}
    (ca,) = of_type(plan, SELF_SIGNED)
    assert inputs(ca)["isCaCertificate"] is True
    assert "cert_signing" in inputs(ca)["allowedUses"]
    assert inputs(ca)["validityPeriodHours"] >= inputs(server)["validityPeriodHours"]


def test_server_certificate_names(plan: PlanRun) -> None:
    (request,) = of_type(plan, CERT_REQUEST)
    assert inputs(request)["dnsNames"] == ["localhost"]
    assert inputs(request)["ipAddresses"] == ["127.0.0.1"]


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
    assert {(inputs(k)["algorithm"], inputs(k)["rsaBits"]) for k in of_type(run, PRIVATE_KEY)} == {
        ("RSA", 2048)
    }
    (server,) = of_type(run, LOCALLY_SIGNED)
    assert (inputs(server)["validityPeriodHours"], inputs(server)["earlyRenewalHours"]) == (720, 240)
    assert "key_encipherment" in inputs(server)["allowedUses"]


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
    assert not of_type(run, PRIVATE_KEY) and not of_type(run, SELF_SIGNED)
    proxy = the_service(run, "proxy")
    assert mounted(run, proxy, CERTIFICATE) == provided["certificatePem"]
    assert mounted(run, proxy, PRIVATE_KEY_FILE) == provided["privateKeyPem"]
    assert run.outputs["caCertificate"] == provided["caCertificatePem"]
