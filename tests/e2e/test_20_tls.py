"""TLS at the edge: protocol versions, the chain against the exported CA, ALPN h2, the http redirect."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import Platform
from tests.e2e.live import Edge
from tests.e2e.summary import Summary, verify

pytestmark = pytest.mark.e2e
HANDSHAKE_TIMEOUT = 10.0


def _handshake(edge: Edge, version: ssl.TLSVersion, alpn: list[str] | None = None) -> tuple[str, str, str]:
    """(negotiated protocol, ALPN, certificate subject CN) or raises ssl.SSLError; verification is on."""
    context = edge.ssl_context()  # only the stack's CA, hostname checked against the configured name
    context.minimum_version = context.maximum_version = version
    if alpn:
        context.set_alpn_protocols(alpn)
    with (
        socket.create_connection(("127.0.0.1", edge.https_port), timeout=HANDSHAKE_TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname=edge.server_name) as tls,
    ):
        certificate = tls.getpeercert() or {}
        names = [pair for rdn in certificate.get("subject", ()) for pair in rdn]
        common_name = next((pair[1] for pair in names if pair[0] == "commonName"), "")
        return str(tls.version()), str(tls.selected_alpn_protocol()), str(common_name)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["1.2", "1.3"])
def test_modern_versions_accepted_and_chain_verifies(
    platform: Platform, summary: Summary, version: ssl.TLSVersion
) -> None:
    try:
        negotiated, _, subject = _handshake(platform.edge, version)
        measured = f"{negotiated}, chain verified against the stack CA for {platform.edge.server_name}"
        measured += f" (CN={subject})"
        passed = negotiated == version.name.replace("_", ".")
    except (ssl.SSLError, OSError) as error:
        measured, passed = f"handshake failed: {error}", False
    verify(summary, f"tls: {version.name.replace('_', '.')} accepted, chain verifies", passed, measured)


def _openssl_offer(
    port: int, flag: str, server_name: str, seclevel0: bool = True
) -> subprocess.CompletedProcess:
    # OpenSSL 3 refuses to even offer TLS 1.0/1.1 at its default security level 1; @SECLEVEL=0 makes the
    # client offer them for real, so a failure is the server's refusal.
    command = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", server_name, flag]
    if seclevel0:
        command += ["-cipher", "DEFAULT@SECLEVEL=0"]
    return subprocess.run(command, input=b"", capture_output=True, timeout=HANDSHAKE_TIMEOUT, check=False)


@pytest.fixture(scope="module")
def legacy_control_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A local `openssl s_server` that accepts TLS 1.0/1.1: proves the client really offers them."""
    directory = tmp_path_factory.mktemp("tls-control")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=control"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-key", str(key), "-cert", str(cert),
         "-cipher", "DEFAULT@SECLEVEL=0", "-min_protocol", "TLSv1", "-max_protocol", "TLSv1.2",
         "-www", "-quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                subprocess.run(["sleep", "0.1"], check=True)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def _completed(output: str, protocol: str) -> bool:
    # s_client prints the attempted protocol in its session block even after a refusal; only a completed
    # handshake also has a cipher ("Cipher is (NONE)" otherwise).
    return f"Protocol  : {protocol}\n" in output and "Cipher is (NONE)" not in output


@pytest.mark.parametrize(
    ("flag", "protocol", "label"),
    [("-tls1", "TLSv1", "TLS 1.0"), ("-tls1_1", "TLSv1.1", "TLS 1.1")],
    ids=["1.0", "1.1"],
)
def test_legacy_versions_refused(
    platform: Platform, summary: Summary, legacy_control_server: int, flag: str, protocol: str, label: str
) -> None:
    control = _openssl_offer(legacy_control_server, flag, "control")
    control_output = (control.stdout + control.stderr).decode(errors="replace")
    edge = _openssl_offer(platform.edge.https_port, flag, platform.edge.server_name)
    output = (edge.stdout + edge.stderr).decode(errors="replace")
    alert = next((line for line in output.splitlines() if "alert" in line), "no alert")
    verify(
        summary,
        f"tls: {label} refused",
        _completed(control_output, protocol) and not _completed(output, protocol),
        f"s_client {flag} at SECLEVEL=0: local control server completes {protocol}; "
        f"edge: {next((part for part in alert.split(':') if 'alert' in part), alert).strip()}",
    )


def test_http2_negotiated(platform: Platform, summary: Summary) -> None:
    _, alpn, _ = _handshake(platform.edge, ssl.TLSVersion.TLSv1_3, alpn=["h2", "http/1.1"])
    verify(summary, "tls: HTTP/2 negotiated (ALPN h2)", alpn == "h2", f"ALPN selected {alpn}")


def test_http_port_redirects_to_https(platform: Platform, summary: Summary) -> None:
    edge = platform.edge
    response = httpx.get(
        f"http://127.0.0.1:{edge.http_port}/api/v1/presentations?page=2",
        headers={"Host": edge.server_name},
        follow_redirects=False,
        timeout=HANDSHAKE_TIMEOUT,
    )
    location = response.headers.get("location", "")
    expected = f"https://{edge.server_name}:{edge.https_port}/api/v1/presentations?page=2"
    verify(
        summary,
        "tls: http port answers 308 to https",
        response.status_code == 308 and location == expected,
        f"{response.status_code} Location: {location}",
    )
