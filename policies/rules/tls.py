"""TLS key and certificate rules (Mozilla server-side TLS 6.0), per-stack profile from policy config."""

from __future__ import annotations

from pulumi_policy import ResourceValidationArgs, Severity

from ._policy import Report, resource_policy
from ._props import (
    LOCALLY_SIGNED_CERT,
    PRIVATE_KEY,
    SELF_SIGNED_CERT,
    Resource,
    config_value,
    is_unknown,
    number,
    text,
)

INTERMEDIATE = "intermediate"
MODERN = "modern"
MIN_RSA_BITS = 2048
# pulumi-tls defaults: rsaBits 2048, ecdsaCurve P224 (too weak, so an unset curve fails).
DEFAULT_RSA_BITS = 2048
DEFAULT_ECDSA_CURVE = "P224"
ALLOWED_CURVES = ("P256", "P384")
DEFAULT_MAX_VALIDITY_DAYS = 366
DEFAULT_CA_MAX_VALIDITY_DAYS = 3650
PROFILE_CONFIG = {
    "profile": {
        "type": "string",
        "enum": [INTERMEDIATE, MODERN],
        "default": INTERMEDIATE,
        "description": "Mozilla server-side TLS profile of the stack.",
    }
}


def tls_profile(args: ResourceValidationArgs) -> str:
    return str(config_value(args.get_config(), "profile", INTERMEDIATE))


def tls_key_strength(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != PRIVATE_KEY:
        return
    key = Resource.of(args)
    algorithm = key.get("algorithm")
    if is_unknown(algorithm) or is_unknown(key.get("rsaBits")) or is_unknown(key.get("ecdsaCurve")):
        return
    algorithm = (text(algorithm) or "").upper()
    profile = tls_profile(args)
    if algorithm == "RSA":
        bits = number(key.get("rsaBits")) or DEFAULT_RSA_BITS
        if profile == MODERN:
            report(
                f"private key '{key.name}' is RSA, but the {MODERN} profile allows ECDSA certificates only. "
                'Fix: algorithm "ECDSA" with ecdsaCurve "P256".'
            )
        elif bits < MIN_RSA_BITS:
            report(
                f"private key '{key.name}' is RSA-{int(bits)}. Fix: rsaBits {MIN_RSA_BITS} or more (or "
                "ECDSA P256)."
            )
    elif algorithm == "ECDSA":
        curve = (text(key.get("ecdsaCurve")) or DEFAULT_ECDSA_CURVE).upper()
        if curve not in ALLOWED_CURVES:
            report(f'private key \'{key.name}\' uses curve {curve}. Fix: ecdsaCurve "P256" or "P384".')
    else:
        report(
            f"private key '{key.name}' uses algorithm {algorithm or 'unset'}, which browsers do not accept "
            "for "
            'server certificates. Fix: algorithm "ECDSA" (P256/P384) or "RSA" (2048+, intermediate only).'
        )


def tls_certificate_lifetime(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type not in (SELF_SIGNED_CERT, LOCALLY_SIGNED_CERT):
        return
    cert = Resource.of(args)
    if any(
        is_unknown(cert.get(key)) for key in ("validityPeriodHours", "earlyRenewalHours", "isCaCertificate")
    ):
        return
    config = args.get_config()
    is_ca = cert.get("isCaCertificate") is True
    key = "caMaxValidityDays" if is_ca else "maxValidityDays"
    default = DEFAULT_CA_MAX_VALIDITY_DAYS if is_ca else DEFAULT_MAX_VALIDITY_DAYS
    max_days = number(config_value(config, key, default)) or default
    hours = number(cert.get("validityPeriodHours")) or 0
    kind = "CA certificate" if is_ca else "certificate"
    if not 0 < hours <= max_days * 24:
        report(
            f"{kind} '{cert.name}' is valid for {hours / 24:g} days; this stack allows at most {max_days:g} "
            f"({key}). Fix: validityPeriodHours <= {int(max_days * 24)}."
        )
    early = number(cert.get("earlyRenewalHours")) or 0
    if not 0 < early < max(hours, 1):
        report(
            f"{kind} '{cert.name}' has no early renewal (earlyRenewalHours {early:g}), so it is only "
            "replaced after "
            "it expired. Fix: earlyRenewalHours of about a third of the lifetime, e.g. 720."
        )


POLICIES = [
    resource_policy(
        "tls-key-strength",
        tls_key_strength,
        prohibits="TLS private keys weaker than RSA-2048 or ECDSA P-256/P-384 are prohibited; the modern "
        "profile "
        "allows ECDSA only.",
        reference="Mozilla Server Side TLS 6.0 (certificate type); NIST SP 800-57",
        config=PROFILE_CONFIG,
    ),
    resource_policy(
        "tls-certificate-lifetime",
        tls_certificate_lifetime,
        prohibits="Certificates valid longer than the stack's maximum (intermediate 366 days, modern 90) or "
        "without early renewal are prohibited: long-lived certificates outlive a key compromise.",
        reference="Mozilla Server Side TLS 6.0 (certificate lifespan)",
        severity=Severity.MEDIUM,
        config={
            "maxValidityDays": {"type": "number", "minimum": 1, "default": DEFAULT_MAX_VALIDITY_DAYS},
            "caMaxValidityDays": {"type": "number", "minimum": 1, "default": DEFAULT_CA_MAX_VALIDITY_DAYS},
        },
    ),
]
