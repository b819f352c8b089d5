"""Realistic mocks for the offline plan and the tests: what the providers would return, made locally."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import secrets
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pulumi.runtime import rpc

SECRET_SIG = rpc._special_secret_sig  # the wire marker of a secret value
SIG_KEY = rpc._special_sig_key
REPO_ROOT = Path(__file__).resolve().parent.parent
STACK_OUTPUTS_DIRS = (REPO_ROOT / "var" / "stack-outputs", REPO_ROOT / "infra" / "fixtures" / "stack-outputs")

GATEWAY_BRIDGE = "docker_gwbridge"
BINDING_OPTION = "com.docker.network.bridge.host_binding_ipv4"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def is_secret_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def plain(value: Any) -> Any:
    """The value with every secret wrapper removed (what the provider would receive)."""
    if is_secret_value(value):
        return plain(value["value"])
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _generate_key(inputs: dict[str, Any]) -> PrivateKey:
    if inputs.get("algorithm") == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=int(inputs.get("rsaBits", 2048)))
    curve = {"P224": ec.SECP224R1(), "P256": ec.SECP256R1(), "P384": ec.SECP384R1(), "P521": ec.SECP521R1()}
    return ec.generate_private_key(curve[inputs.get("ecdsaCurve", "P224")])


def _pem(key: PrivateKey) -> tuple[str, str]:
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _load_key(pem: str) -> PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    return key


def _name(subject: dict[str, Any] | None) -> x509.Name:
    subject = subject or {}
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, subject.get("commonName", "unnamed"))]
    if subject.get("organization"):
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, subject["organization"]))
    return x509.Name(attributes)


_EXTENDED_USES = {
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
}


def _key_usage(uses: list[str]) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature="digital_signature" in uses,
        content_commitment=False,
        key_encipherment="key_encipherment" in uses,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign="cert_signing" in uses,
        crl_sign="crl_signing" in uses,
        encipher_only=False,
        decipher_only=False,
    )


def _certificate(
    subject: x509.Name,
    public_key: Any,
    issuer: x509.Name,
    signing_key: PrivateKey,
    inputs: dict[str, Any],
    is_ca: bool,
    sans: list[x509.GeneralName],
) -> tuple[str, dict[str, str]]:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    end = now + dt.timedelta(hours=int(inputs["validityPeriodHours"]))
    uses = list(inputs.get("allowedUses", []))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(_key_usage(uses), critical=True)
    )
    extended = [_EXTENDED_USES[use] for use in uses if use in _EXTENDED_USES]
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    certificate = builder.sign(signing_key, hashes.SHA256())
    times = {"validityStartTime": now.isoformat(), "validityEndTime": end.isoformat()}
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), times


class RealisticMocks(pulumi.runtime.Mocks):
    """Answers like the providers: random strings, real PEM material, `sha256:` image IDs, stack outputs."""

    def __init__(self, stack_outputs_dirs: tuple[Path, ...] = STACK_OUTPUTS_DIRS) -> None:
        self._stack_outputs_dirs = stack_outputs_dirs
        self._handlers: dict[str, Callable[[str, dict[str, Any]], tuple[str, dict[str, Any]]]] = {
            "random:index/randomPassword:RandomPassword": self._random_password,
            "tls:index/privateKey:PrivateKey": self._private_key,
            "tls:index/selfSignedCert:SelfSignedCert": self._self_signed_cert,
            "tls:index/certRequest:CertRequest": self._cert_request,
            "tls:index/locallySignedCert:LocallySignedCert": self._locally_signed_cert,
            "docker:index/remoteImage:RemoteImage": self._remote_image,
            "docker:index/network:Network": self._network,
            "docker:index/service:Service": self._service,
            "docker:index/secret:Secret": self._swarm_object,
            "docker:index/serviceConfig:ServiceConfig": self._swarm_object,
            "docker:index/volume:Volume": self._volume,
            "pulumi:pulumi:StackReference": self._stack_reference,
        }

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        inputs = plain(args.inputs)
        handler = self._handlers.get(args.typ)
        if handler is None:
            return f"{args.name}-id", inputs
        identifier, computed = handler(args.name, inputs)
        return identifier, {**inputs, **computed}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        invoke = args.token
        if invoke == "docker:index/getNetwork:getNetwork" and args.args.get("name") == GATEWAY_BRIDGE:
            # A swarm node's gateway bridge as tools/docker-engine.sh (and the README) prepare it.
            return {
                "id": _digest(GATEWAY_BRIDGE)[:64],
                "name": GATEWAY_BRIDGE,
                "driver": "bridge",
                "scope": "local",
                "internal": False,
                "options": {BINDING_OPTION: "127.0.0.1"},
                "ipamConfigs": [],
            }, []
        raise NotImplementedError(f"the offline plan has no answer for the invoke {args.token} {args.args}")

    @staticmethod
    def _random_password(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        alphabet = ""
        if inputs.get("lower", True):
            alphabet += string.ascii_lowercase
        if inputs.get("upper", True):
            alphabet += string.ascii_uppercase
        if inputs.get("numeric", True):
            alphabet += string.digits
        if inputs.get("special", True):
            alphabet += inputs.get("overrideSpecial") or "!@#$%&*()-_=+[]{}<>:?"
        result = "".join(secrets.choice(alphabet) for _ in range(int(inputs["length"])))
        return "none", {"result": result, "bcryptHash": ""}

    @staticmethod
    def _private_key(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        key = _generate_key(inputs)
        private, public = _pem(key)
        fingerprint = hashlib.sha1(public.encode()).hexdigest()  # noqa: S324 - an ID, not a security control
        return fingerprint, {"privateKeyPem": private, "publicKeyPem": public}

    @staticmethod
    def _self_signed_cert(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        key = _load_key(inputs["privateKeyPem"])
        subject = _name(inputs.get("subject"))
        pem, times = _certificate(
            subject, key.public_key(), subject, key, inputs, bool(inputs.get("isCaCertificate")), []
        )
        return _digest(pem)[:32], {"certPem": pem, "readyForRenewal": False, **times}

    @staticmethod
    def _cert_request(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        key = _load_key(inputs["privateKeyPem"])
        sans: list[x509.GeneralName] = [x509.DNSName(dns) for dns in inputs.get("dnsNames", [])]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in inputs.get("ipAddresses", [])]
        builder = x509.CertificateSigningRequestBuilder().subject_name(_name(inputs.get("subject")))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        pem = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()
        return _digest(pem)[:32], {"certRequestPem": pem}

    @staticmethod
    def _locally_signed_cert(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        request = x509.load_pem_x509_csr(inputs["certRequestPem"].encode())
        ca_certificate = x509.load_pem_x509_certificate(inputs["caCertPem"].encode())
        ca_key = _load_key(inputs["caPrivateKeyPem"])
        try:
            sans = list(request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            sans = []
        pem, times = _certificate(
            request.subject, request.public_key(), ca_certificate.subject, ca_key, inputs, False, sans
        )
        return _digest(pem)[:32], {"certPem": pem, "readyForRenewal": False, **times}

    @staticmethod
    def _remote_image(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        image_id = "sha256:" + _digest(inputs.get("name"), inputs.get("triggers"))
        return image_id, {"imageId": image_id, "repoDigest": ""}

    @staticmethod
    def _network(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        # A private /24 per network name, like Docker's default address pools.
        octet = int(_digest(inputs.get("name"))[:4], 16) % 200 + 20
        subnet = f"172.{octet % 16 + 16}.{octet}.0/24"
        ipam = [{"subnet": subnet, "gateway": subnet.replace(".0/24", ".1")}]
        return _digest(inputs.get("name"))[:64], {"ipamConfigs": ipam, "scope": "local"}

    @staticmethod
    def _service(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return _digest(inputs.get("name"))[:25], {}

    @staticmethod
    def _swarm_object(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        # Swarm IDs are 25 characters; a new name (new content) is a new object.
        return _digest(inputs.get("name"), inputs.get("data"))[:25], {}

    @staticmethod
    def _volume(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        volume = inputs.get("name", name)
        return volume, {"driver": "local", "mountpoint": f"/var/lib/docker/volumes/{volume}/_data"}

    def _stack_reference(self, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        reference = inputs["name"]
        stack = reference.rsplit("/", 1)[-1]
        for directory in self._stack_outputs_dirs:
            path = directory / f"{stack}.json"
            if path.is_file():
                recorded = json.loads(path.read_text())
                return reference, {
                    "name": reference,
                    "outputs": recorded["outputs"],
                    "secretOutputNames": recorded.get("secretOutputNames", []),
                }
        searched = ", ".join(str(directory / f"{stack}.json") for directory in self._stack_outputs_dirs)
        raise FileNotFoundError(
            f"stack reference {reference!r}: no recorded outputs (looked for {searched}); "
            f"run `make plan STACK={stack}` first"
        )
