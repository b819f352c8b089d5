"""Real key material for `tls:*` resources and real random values for `random:*` ones, from their inputs."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import secrets
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.e2e.properties import NoEffect, PropertyTable, require_mapped

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

KEEPERS = NoEffect("no effect on the value: a changed keeper replaces the resource (harness.UPDATE_RULES)")
EARLY_RENEWAL = NoEffect("only sets readyForRenewal, which replaces the certificate once within the window")

# --------------------------------------------------------------------------------------------- tls:PrivateKey

_CURVES: dict[str, ec.EllipticCurve] = {
    "P224": ec.SECP224R1(),
    "P256": ec.SECP256R1(),
    "P384": ec.SECP384R1(),
    "P521": ec.SECP521R1(),
}


@dataclass
class KeySpec:
    algorithm: str = ""
    rsa_bits: int = 2048
    ecdsa_curve: str = "P224"  # the provider's default


KEY_TABLE: PropertyTable[KeySpec] = PropertyTable(
    "tls:PrivateKey",
    {
        "algorithm": lambda spec, value: setattr(spec, "algorithm", value),
        "rsaBits": lambda spec, value: setattr(spec, "rsa_bits", int(value)),
        "ecdsaCurve": lambda spec, value: setattr(spec, "ecdsa_curve", value),
    },
)


def _private_key_pem(key: PrivateKey) -> str:
    # The provider writes PKCS#1 for RSA and SEC1 for ECDSA ("traditional OpenSSL"), PKCS#8 for ED25519.
    key_format = (
        serialization.PrivateFormat.PKCS8
        if isinstance(key, ed25519.Ed25519PrivateKey)
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    return key.private_bytes(serialization.Encoding.PEM, key_format, serialization.NoEncryption()).decode()


def private_key(inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    spec = KeySpec()
    KEY_TABLE.apply(spec, inputs)
    key: PrivateKey
    if spec.algorithm == "RSA":
        key = rsa.generate_private_key(public_exponent=65537, key_size=spec.rsa_bits)
    elif spec.algorithm == "ECDSA":
        key = ec.generate_private_key(_CURVES[spec.ecdsa_curve])
    elif spec.algorithm == "ED25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"tls:PrivateKey: unknown algorithm {spec.algorithm!r}")
    public = key.public_key()
    public_der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    openssh = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    openssh_blob = base64.b64decode(openssh.split()[1])
    outputs = {
        **inputs,
        "privateKeyPem": _private_key_pem(key),
        "privateKeyPemPkcs8": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "privateKeyOpenssh": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode(),
        "publicKeyPem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        "publicKeyOpenssh": openssh + "\n",
        "publicKeyFingerprintMd5": ":".join(
            f"{byte:02x}" for byte in hashlib.md5(openssh_blob, usedforsecurity=False).digest()
        ),
        "publicKeyFingerprintSha256": "SHA256:"
        + base64.b64encode(hashlib.sha256(openssh_blob).digest()).decode().rstrip("="),
    }
    return hashlib.sha1(public_der, usedforsecurity=False).hexdigest(), outputs


def load_private_key(pem: str) -> PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"unsupported key type {type(key).__name__}")
    return key


def key_algorithm(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RSA"
    return "ECDSA" if isinstance(key, ec.EllipticCurvePrivateKey) else "ED25519"


# ------------------------------------------------------------------------------------- certificates and CSRs

_SUBJECT_OIDS = {
    "commonName": NameOID.COMMON_NAME,
    "organization": NameOID.ORGANIZATION_NAME,
    "organizationalUnit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "locality": NameOID.LOCALITY_NAME,
    "province": NameOID.STATE_OR_PROVINCE_NAME,
    "country": NameOID.COUNTRY_NAME,
    "postalCode": NameOID.POSTAL_CODE,
    "serialNumber": NameOID.SERIAL_NUMBER,
    "emailAddress": NameOID.EMAIL_ADDRESS,
    "streetAddresses": NameOID.STREET_ADDRESS,
}

# allowedUses strings (the provider's names) -> KeyUsage flags and extended key usages.
_KEY_USAGES = {
    "digital_signature": "digital_signature",
    "content_commitment": "content_commitment",
    "key_encipherment": "key_encipherment",
    "data_encipherment": "data_encipherment",
    "key_agreement": "key_agreement",
    "cert_signing": "key_cert_sign",
    "crl_signing": "crl_sign",
    "encipher_only": "encipher_only",
    "decipher_only": "decipher_only",
}
_EXTENDED_USAGES = {
    "any_extended": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
}


def subject_name(subject: Mapping[str, Any]) -> x509.Name:
    require_mapped("tls subject", subject, _SUBJECT_OIDS)
    attributes: list[x509.NameAttribute] = []
    for key, oid in _SUBJECT_OIDS.items():
        values = subject.get(key)
        for value in values if isinstance(values, list) else [values] if values else []:
            attributes.append(x509.NameAttribute(oid, str(value)))
    return x509.Name(attributes)


@dataclass
class CertSpec:
    """What a SelfSignedCert, CertRequest or LocallySignedCert declares."""

    private_key_pem: str = ""
    subject: dict[str, Any] = field(default_factory=dict)
    dns_names: list[str] = field(default_factory=list)
    ip_addresses: list[str] = field(default_factory=list)
    uris: list[str] = field(default_factory=list)
    validity_hours: int = 0
    allowed_uses: list[str] = field(default_factory=list)
    is_ca: bool = False
    max_path_length: int | None = None
    subject_key_id: bool = False
    authority_key_id: bool = False
    csr_pem: str = ""
    ca_key_pem: str = ""
    ca_cert_pem: str = ""


def _set(attribute: str, convert: Any = None) -> Any:
    return lambda spec, value: setattr(spec, attribute, convert(value) if convert else value)


_NAMES: dict[str, Any] = {
    "dnsNames": _set("dns_names", list),
    "ipAddresses": _set("ip_addresses", list),
    "uris": _set("uris", list),
}
_VALIDITY: dict[str, Any] = {
    "validityPeriodHours": _set("validity_hours", int),
    "allowedUses": _set("allowed_uses", list),
    "isCaCertificate": _set("is_ca", bool),
    "maxPathLength": _set("max_path_length", int),
    "setSubjectKeyId": _set("subject_key_id", bool),
    "earlyRenewalHours": EARLY_RENEWAL,
}

SELF_SIGNED_TABLE: PropertyTable[CertSpec] = PropertyTable(
    "tls:SelfSignedCert",
    {
        "privateKeyPem": _set("private_key_pem"),
        "subject": _set("subject", dict),
        "setAuthorityKeyId": _set("authority_key_id", bool),
        **_NAMES,
        **_VALIDITY,
    },
)
CERT_REQUEST_TABLE: PropertyTable[CertSpec] = PropertyTable(
    "tls:CertRequest", {"privateKeyPem": _set("private_key_pem"), "subject": _set("subject", dict), **_NAMES}
)
LOCALLY_SIGNED_TABLE: PropertyTable[CertSpec] = PropertyTable(
    "tls:LocallySignedCert",
    {
        "certRequestPem": _set("csr_pem"),
        "caPrivateKeyPem": _set("ca_key_pem"),
        "caCertPem": _set("ca_cert_pem"),
        **_VALIDITY,
    },
)


def _alternative_names(spec: CertSpec) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in spec.dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in spec.ip_addresses]
    names += [x509.UniformResourceIdentifier(uri) for uri in spec.uris]
    return names


def _usage_extensions(builder: x509.CertificateBuilder, spec: CertSpec) -> x509.CertificateBuilder:
    unknown = [use for use in spec.allowed_uses if use not in _KEY_USAGES and use not in _EXTENDED_USAGES]
    if unknown:
        raise ValueError(f"allowedUses: no mapping for {unknown}")
    flags = {flag: False for flag in _KEY_USAGES.values()}
    flags.update({_KEY_USAGES[use]: True for use in spec.allowed_uses if use in _KEY_USAGES})
    if any(flags.values()):
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    extended = [_EXTENDED_USAGES[use] for use in spec.allowed_uses if use in _EXTENDED_USAGES]
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    return builder.add_extension(
        x509.BasicConstraints(ca=spec.is_ca, path_length=spec.max_path_length if spec.is_ca else None),
        critical=True,
    )


def _sign(
    spec: CertSpec, subject: x509.Name, public_key: Any, issuer: x509.Name, issuer_key: PrivateKey
) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    end = now + datetime.timedelta(hours=spec.validity_hours)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(end)
    )
    builder = _usage_extensions(builder, spec)
    if _alternative_names(spec):
        builder = builder.add_extension(x509.SubjectAlternativeName(_alternative_names(spec)), critical=False)
    if spec.subject_key_id:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    if spec.authority_key_id or spec.ca_cert_pem:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    algorithm = None if isinstance(issuer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    certificate = builder.sign(issuer_key, algorithm)
    return {
        "certPem": certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "validityStartTime": now.isoformat().replace("+00:00", "Z"),
        "validityEndTime": end.isoformat().replace("+00:00", "Z"),
        "readyForRenewal": False,
    }


def self_signed_cert(inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    spec = CertSpec()
    SELF_SIGNED_TABLE.apply(spec, inputs)
    key = load_private_key(spec.private_key_pem)
    name = subject_name(spec.subject)
    outputs = _sign(spec, name, key.public_key(), name, key)
    certificate = x509.load_pem_x509_certificate(outputs["certPem"].encode())
    return str(certificate.serial_number), {**inputs, **outputs, "keyAlgorithm": key_algorithm(key)}


def cert_request(inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    spec = CertSpec()
    CERT_REQUEST_TABLE.apply(spec, inputs)
    key = load_private_key(spec.private_key_pem)
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject_name(spec.subject))
    if _alternative_names(spec):
        builder = builder.add_extension(x509.SubjectAlternativeName(_alternative_names(spec)), critical=False)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    request = builder.sign(key, algorithm)
    pem = request.public_bytes(serialization.Encoding.PEM).decode()
    return hashlib.sha1(pem.encode(), usedforsecurity=False).hexdigest(), {
        **inputs,
        "certRequestPem": pem,
        "keyAlgorithm": key_algorithm(key),
    }


def locally_signed_cert(inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    spec = CertSpec()
    LOCALLY_SIGNED_TABLE.apply(spec, inputs)
    request = x509.load_pem_x509_csr(spec.csr_pem.encode())
    ca_key = load_private_key(spec.ca_key_pem)
    ca_cert = x509.load_pem_x509_certificate(spec.ca_cert_pem.encode())
    # The request's names travel into the certificate, as the provider copies them.
    try:
        requested = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        spec.dns_names = requested.get_values_for_type(x509.DNSName)
        spec.ip_addresses = [str(address) for address in requested.get_values_for_type(x509.IPAddress)]
        spec.uris = requested.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        pass
    outputs = _sign(spec, request.subject, request.public_key(), ca_cert.subject, ca_key)
    certificate = x509.load_pem_x509_certificate(outputs["certPem"].encode())
    return str(certificate.serial_number), {**inputs, **outputs, "caKeyAlgorithm": key_algorithm(ca_key)}


# ------------------------------------------------------------------------------------------------- random:*


@dataclass
class CharsetSpec:
    length: int = 0
    upper: bool = True
    lower: bool = True
    numeric: bool = True
    special: bool = True
    min_upper: int = 0
    min_lower: int = 0
    min_numeric: int = 0
    min_special: int = 0
    override_special: str | None = None


_DEFAULT_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"  # the provider's default special set

CHARSET_TABLE: PropertyTable[CharsetSpec] = PropertyTable(
    "random:RandomPassword/RandomString",
    {
        "length": lambda spec, value: setattr(spec, "length", int(value)),
        "upper": lambda spec, value: setattr(spec, "upper", bool(value)),
        "lower": lambda spec, value: setattr(spec, "lower", bool(value)),
        "numeric": lambda spec, value: setattr(spec, "numeric", bool(value)),
        "special": lambda spec, value: setattr(spec, "special", bool(value)),
        "minUpper": lambda spec, value: setattr(spec, "min_upper", int(value)),
        "minLower": lambda spec, value: setattr(spec, "min_lower", int(value)),
        "minNumeric": lambda spec, value: setattr(spec, "min_numeric", int(value)),
        "minSpecial": lambda spec, value: setattr(spec, "min_special", int(value)),
        "overrideSpecial": lambda spec, value: setattr(spec, "override_special", str(value)),
        "keepers": KEEPERS,
    },
)


def random_characters(inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    spec = CharsetSpec()
    CHARSET_TABLE.apply(spec, inputs)
    special = spec.override_special if spec.override_special is not None else _DEFAULT_SPECIAL
    classes = [
        (spec.upper, string.ascii_uppercase, spec.min_upper),
        (spec.lower, string.ascii_lowercase, spec.min_lower),
        (spec.numeric, string.digits, spec.min_numeric),
        (spec.special, special, spec.min_special),
    ]
    pool = "".join(chars for enabled, chars, _ in classes if enabled)
    chosen = [secrets.choice(chars) for enabled, chars, minimum in classes if enabled for _ in range(minimum)]
    chosen += [secrets.choice(pool) for _ in range(spec.length - len(chosen))]
    secrets.SystemRandom().shuffle(chosen)
    result = "".join(chosen)
    return "none", {**inputs, "result": result}


def random_id(inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    require_mapped("random:RandomId", inputs, {"byteLength", "prefix", "keepers"})
    raw = secrets.token_bytes(int(inputs["byteLength"]))
    prefix = inputs.get("prefix") or ""
    b64_url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return b64_url, {
        **inputs,
        "hex": prefix + raw.hex(),
        "b64Std": prefix + base64.b64encode(raw).decode(),
        "b64Url": prefix + b64_url,
        "dec": prefix + str(int.from_bytes(raw, "big")),
    }


def random_bytes(inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    require_mapped("random:RandomBytes", inputs, {"length", "keepers"})
    raw = secrets.token_bytes(int(inputs["length"]))
    return "none", {**inputs, "base64": base64.b64encode(raw).decode(), "hex": raw.hex()}


def random_uuid(inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    require_mapped("random:RandomUuid", inputs, {"keepers"})
    value = str(uuid.uuid4())
    return value, {**inputs, "result": value}


def random_integer(inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    require_mapped("random:RandomInteger", inputs, {"min", "max", "seed", "keepers"})
    if inputs.get("seed"):
        raise ValueError(
            "random:RandomInteger: a seeded value is not random; the harness does not emulate seeds"
        )
    value = int(inputs["min"]) + secrets.randbelow(int(inputs["max"]) - int(inputs["min"]) + 1)
    return str(value), {**inputs, "result": value}
