"""TLS: a per-stack CA and the proxy's server certificate, or a certificate provided through secret config."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_tls as tls

from infra.config import TlsConfig

TYPE = "pap:platform:Tls"
HOURS_PER_DAY = 24

_KEY_ARGS: dict[str, dict[str, str | int]] = {
    "ECDSA-P256": {"algorithm": "ECDSA", "ecdsa_curve": "P256"},
    "ECDSA-P384": {"algorithm": "ECDSA", "ecdsa_curve": "P384"},
    "RSA-2048": {"algorithm": "RSA", "rsa_bits": 2048},
    "RSA-3072": {"algorithm": "RSA", "rsa_bits": 3072},
    "RSA-4096": {"algorithm": "RSA", "rsa_bits": 4096},
}


class Tls(pulumi.ComponentResource):
    """Outputs the PEMs the proxy serves and the CA certificate clients trust."""

    certificate_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]  # secret
    ca_certificate_pem: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        config: TlsConfig,
        server_names: Sequence[str],
        stack: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        provided = config.provided_certificate
        if provided is not None:
            # Issued elsewhere (prod): used as is; no CA of ours to trust unless the config names one.
            self.certificate_pem = pulumi.Output.from_input(provided.certificate_pem)
            self.private_key_pem = pulumi.Output.secret(provided.private_key_pem)
            self.ca_certificate_pem = pulumi.Output.from_input(
                provided.ca_certificate_pem or provided.certificate_pem
            )
        else:
            self._issue(name, config, server_names, stack)
        self.register_outputs(
            {"certificatePem": self.certificate_pem, "caCertificatePem": self.ca_certificate_pem}
        )

    def _issue(self, name: str, config: TlsConfig, server_names: Sequence[str], stack: str) -> None:
        child = pulumi.ResourceOptions(parent=self)
        key_args = _KEY_ARGS[config.algorithm]
        ca_key = tls.PrivateKey(f"{name}-ca-key", opts=child, **key_args)  # type: ignore[arg-type]
        ca = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=ca_key.private_key_pem,
            is_ca_certificate=True,
            subject=tls.SelfSignedCertSubjectArgs(
                common_name=f"Presentation Analytics {stack} CA", organization="Presentation Analytics"
            ),
            validity_period_hours=config.ca_validity_days * HOURS_PER_DAY,
            early_renewal_hours=config.early_renewal_days * HOURS_PER_DAY,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            opts=child,
        )
        server_key = tls.PrivateKey(f"{name}-server-key", opts=child, **key_args)  # type: ignore[arg-type]
        request = tls.CertRequest(
            f"{name}-server-csr",
            private_key_pem=server_key.private_key_pem,
            subject=tls.CertRequestSubjectArgs(
                common_name=server_names[0], organization="Presentation Analytics"
            ),
            dns_names=list(server_names),
            ip_addresses=[str(address) for address in config.ip_addresses],
            opts=child,
        )
        # RSA key exchange is off in both Mozilla profiles, so the leaf only ever signs handshakes.
        server_uses = ["digital_signature", "server_auth"]
        if config.algorithm.startswith("RSA"):
            server_uses.insert(1, "key_encipherment")
        server = tls.LocallySignedCert(
            f"{name}-server",
            cert_request_pem=request.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca.cert_pem,
            validity_period_hours=config.validity_days * HOURS_PER_DAY,
            early_renewal_hours=config.early_renewal_days * HOURS_PER_DAY,
            allowed_uses=server_uses,
            opts=child,
        )
        self.certificate_pem = server.cert_pem
        self.private_key_pem = pulumi.Output.secret(server_key.private_key_pem)
        self.ca_certificate_pem = ca.cert_pem
