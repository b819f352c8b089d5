"""The service image (app/Dockerfile) built and run on a real Docker engine, run hardened."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest

from tests.dockerkit import (
    ROOT,
    BuiltImage,
    Container,
    DockerKit,
    SeedFile,
    exec_in,
    image_user,
    last_instruction,
    wait_for_health,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

SERVICE_UID = 10001
MAX_IMAGE_BYTES = 250 * 1000 * 1000
SECRET_KEY = b"image-test-secret-key-0123456789-abcdefghijkl\n"


@pytest.fixture(scope="session")
def service_image(kit: DockerKit) -> BuiltImage:
    # The Dockerfile installs only from the wheelhouse in its context.
    subprocess.run([str(ROOT / "tools" / "wheelhouse.sh")], check=True, timeout=600)
    return kit.build("service", ROOT / "app")


@pytest.fixture(scope="session")
def running_service(kit: DockerKit, service_image: BuiltImage) -> Container:
    """The service on SQLite in production mode: read-only root, tmpfs /tmp, a volume for the SQLite file."""
    files = kit.volume("service-files")
    kit.seed(
        service_image, files, [SeedFile("/run/pap/secrets/secret_key", SECRET_KEY)], user=f"{SERVICE_UID}:0"
    )
    container = kit.run(
        service_image,
        "service",
        user=f"{SERVICE_UID}:0",
        environment={
            "PAP_ENVIRONMENT": "production",
            "PAP_SECRET_KEY_FILE": "/run/pap/secrets/secret_key",
            "PAP_DOCS_ENABLED": "false",
        },
        volumes={kit.volume("service-data"): "/var/lib/pap", files: "/run/pap"},
        ports={"8000/tcp": ("127.0.0.1", None)},
    )
    wait_for_health(container, timeout=120)
    return container


def test_image_runs_as_the_fixed_non_root_user(service_image: BuiltImage) -> None:
    assert image_user(service_image) == f"{SERVICE_UID}:0"


def test_last_dockerfile_instruction_is_a_non_root_user() -> None:
    instruction = last_instruction(ROOT / "app" / "Dockerfile")
    keyword, _, user = instruction.partition(" ")
    assert keyword.upper() == "USER", instruction
    assert user.split(":")[0] not in ("0", "root", ""), instruction


def test_image_is_under_250_mb(service_image: BuiltImage) -> None:
    size = service_image.size_bytes()
    print(f"service image: {size / 1e6:.1f} MB, built in {service_image.seconds:.1f} s")
    assert size < MAX_IMAGE_BYTES, f"{size / 1e6:.1f} MB"


def test_final_image_has_no_compiler_and_no_installer(kit: DockerKit, service_image: BuiltImage) -> None:
    probe = (
        "for tool in gcc cc c++ g++ clang tcc make ld as pip pip3; do command -v $tool; done; "
        "ls /usr/bin | grep -E '^(gcc|g\\+\\+|x86_64-linux-gnu-gcc)' ; "
        "python -c 'import pip' 2>/dev/null && echo pip-module; true"
    )
    code, output = kit.oneshot(service_image, ["-c", probe], entrypoint=["/bin/sh"])
    assert code == 0
    assert output.strip() == "", f"found in the final image: {output}"


def test_final_image_has_no_setuid_or_setgid_program(kit: DockerKit, service_image: BuiltImage) -> None:
    assert kit.privileged_programs(service_image) == []


def test_bytecode_is_compiled_at_build_time(kit: DockerKit, service_image: BuiltImage) -> None:
    # The root filesystem is read-only when running: bytecode not in the image is recompiled at each start.
    probe = (
        "import importlib.util, os, app.cli, fastapi\n"
        "for module in (app.cli, fastapi):\n"
        "    cached = importlib.util.cache_from_source(module.__file__)\n"
        "    print(cached, os.path.isfile(cached))\n"
    )
    code, output = kit.oneshot(service_image, ["-c", probe], entrypoint=["python"])
    assert code == 0, output
    lines = output.strip().splitlines()
    assert len(lines) == 2 and all(line.endswith(" True") for line in lines), output


def test_starts_read_only_on_sqlite_healthy_and_serves_health_live(running_service: Container) -> None:
    running_service.reload()
    port = running_service.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=5) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
        body = json.loads(response.read())
    assert response.status == 200
    assert body["database"] == "healthy", body
    host_config = running_service.attrs["HostConfig"]
    assert host_config["ReadonlyRootfs"] is True
    assert host_config["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host_config["SecurityOpt"]


def test_runs_with_the_uid_and_writes_only_to_its_volume_and_tmp(running_service: Container) -> None:
    code, output = exec_in(running_service, ["id", "-u"])
    assert (code, output.strip()) == (0, str(SERVICE_UID))
    code, _ = exec_in(running_service, ["test", "-s", "/var/lib/pap/pap.db"])
    assert code == 0, "the SQLite database is not in the volume"
    code, output = exec_in(running_service, ["touch", "/srv/app/app/written"])
    assert code != 0 and "Read-only file system" in output


def test_healthcheck_is_unhealthy_on_a_redirect_and_without_a_server(running_service: Container) -> None:
    # A throwaway server answering 301 to /health/live first, then 200: a checker that follows redirects
    # would call it healthy; ours must not.
    server = (
        "import http.server\n"
        "class Handler(http.server.BaseHTTPRequestHandler):\n"
        "    answers = iter([301, 200])\n"
        "    def do_GET(self):\n"
        "        self.send_response(next(self.answers))\n"
        "        self.send_header('Location', '/health/live')\n"
        "        self.send_header('Content-Length', '0')\n"
        "        self.end_headers()\n"
        "    def log_message(self, *args):\n"
        "        pass\n"
        "server = http.server.HTTPServer(('127.0.0.1', 8099), Handler)\n"
        "server.timeout = 5\n"
        "server.handle_request(); server.handle_request()\n"
    )
    script = f'python -c "{server}" & sleep 1; PAP_PORT=8099 pap-healthcheck; echo exit=$?'
    code, output = exec_in(running_service, ["sh", "-c", script])
    assert "exit=1" in output and "answered 301" in output, output
    code, output = exec_in(running_service, ["pap-healthcheck"], environment={"PAP_PORT": "1"})
    assert code == 1, output
    code, output = exec_in(running_service, ["pap-healthcheck"])
    assert code == 0, output
