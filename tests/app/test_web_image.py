"""The web frontend's image (app/web/Dockerfile) built and run on a real Docker engine, run hardened.

The frontend is built on the host first (tools/build-web.sh), as the stack and the e2e harness do.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

from infra.web import CSP
from tests.dockerkit import (
    BASE_IMAGE,
    ROOT,
    BuiltImage,
    Container,
    DockerKit,
    exec_in,
    image_user,
    last_instruction,
    wait_for_health,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

WEB_CONTEXT = ROOT / "app" / "web"
WEB_UID = 10050
MAX_IMAGE_BYTES = 250 * 1000 * 1000
PAGES = ("/signin", "/decks", "/decks/new", "/decks/00000000-0000-4000-8000-000000000000/analytics", "/admin")
NEXT_ERROR_MARK = "\u2a2f"  # how Next.js starts a logged error
NONCE = re.compile(r"script-src [^;]*'nonce-([A-Za-z0-9+/=]+)'")


@pytest.fixture(scope="session")
def web_image(kit: DockerKit) -> BuiltImage:
    subprocess.run([str(ROOT / "tools" / "build-web.sh")], check=True, timeout=900)
    return kit.build("web", WEB_CONTEXT)


@pytest.fixture(scope="session")
def running_web(kit: DockerKit, web_image: BuiltImage) -> Container:
    """As the stack runs it: read-only root, tmpfs /tmp only, no capabilities, the stack's CSP template."""
    container = kit.run(
        web_image,
        "web",
        user=f"{WEB_UID}:0",
        environment={"PAP_WEB_CSP": CSP},
        ports={"3000/tcp": ("127.0.0.1", None)},
    )
    wait_for_health(container, timeout=90)
    container.reload()
    return container


def _get(container: Container, path: str) -> tuple[int, Message, str]:
    port = container.attrs["NetworkSettings"]["Ports"]["3000/tcp"][0]["HostPort"]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.headers, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode(errors="replace")


def test_image_runs_as_the_fixed_non_root_user(web_image: BuiltImage) -> None:
    assert image_user(web_image) == f"{WEB_UID}:0"
    assert last_instruction(WEB_CONTEXT / "Dockerfile") == f"USER {WEB_UID}:0"


def test_image_is_under_250_mb(web_image: BuiltImage) -> None:
    size = web_image.size_bytes()
    print(f"web image: {size / 1e6:.1f} MB, built in {web_image.seconds:.1f} s")
    assert size < MAX_IMAGE_BYTES, f"{size / 1e6:.1f} MB"


def test_debian_node_and_nothing_to_install_or_compile_with(kit: DockerKit, web_image: BuiltImage) -> None:
    probe = (
        "dpkg-query -W -f '${Version}\\n' nodejs; node -p process.versions.node; "
        "for tool in npm npx corepack yarn gcc cc c++ make python3 curl wget; do command -v $tool; done; "
        "ls /srv/web/node_modules | grep -x -E 'sharp|@img'; true"
    )
    code, output = kit.oneshot(web_image, ["-c", probe], entrypoint=["/bin/sh"])
    assert code == 0, output
    package, node, *found = output.split()
    assert package.endswith("~deb12u3") or "deb12" in package, package  # Debian bookworm's own build
    major, minor, _ = (int(part) for part in node.split("."))
    assert (major, minor) >= (18, 18), node  # Next.js 15.5's floor
    assert found == [], f"found in the image: {found}"


def test_image_has_no_setuid_or_setgid_program(kit: DockerKit, web_image: BuiltImage) -> None:
    assert kit.privileged_programs(web_image) == []


def test_pages_render_read_only_with_a_fresh_nonce_each_time(running_web: Container) -> None:
    """Debian's Node.js 18 ships undici 5.15, whose Headers lack getSetCookie(), which Next.js binds when a
    page reads its request: without the image's preloaded shim every page below answers 500."""
    nonces = []
    for path in PAGES:
        status, headers, body = _get(running_web, path)
        assert status == 200, (path, status, body[:300])
        assert headers["Content-Type"].startswith("text/html"), path
        match = NONCE.search(headers["Content-Security-Policy"])
        assert match, headers["Content-Security-Policy"]
        assert f'nonce="{match.group(1)}"' in body, f"{path}: the scripts do not carry the response's nonce"
        assert headers["Content-Security-Policy"].endswith(
            "upgrade-insecure-requests"
        )  # the stack's template
        assert headers["Cache-Control"] == "no-store", path
        nonces.append(match.group(1))
    assert len(set(nonces)) == len(nonces)
    logs = running_web.logs().decode(errors="replace")
    assert NEXT_ERROR_MARK not in logs and "Error" not in logs, logs[-2000:]


def test_health_and_static_assets(running_web: Container) -> None:
    status, headers, body = _get(running_web, "/healthz")
    assert (status, body) == (200, '{"status":"ok"}')
    _, _, page = _get(running_web, "/signin")
    asset = re.search(r'src="(/_next/static/[^"]+\.js)"', page)
    assert asset, page[:500]
    status, headers, _ = _get(running_web, asset.group(1))
    assert status == 200 and "immutable" in headers["Cache-Control"]


def test_nothing_but_tmp_is_writable(running_web: Container) -> None:
    host_config = running_web.attrs["HostConfig"]
    assert host_config["ReadonlyRootfs"] is True and host_config["CapDrop"] == ["ALL"]
    code, output = exec_in(running_web, ["id", "-u"])
    assert (code, output.strip()) == (0, str(WEB_UID))
    # As UID 0, which owns the files: only the read-only mount can refuse these writes.
    for command in ("touch /srv/web/server.js", "mkdir /srv/web/.next/cache", "touch /tmp/ok && rm /tmp/ok"):
        code, output = exec_in(running_web, ["sh", "-c", command], user="0")
        if command.startswith("touch /tmp"):
            assert code == 0, output
        else:
            assert code != 0 and "Read-only file system" in output, (command, output)


def test_healthcheck_is_unhealthy_on_a_redirect_and_without_a_server(running_web: Container) -> None:
    server = (
        "require('http').createServer((req, res) => { res.writeHead(301, {Location: '/healthz'}); "
        "res.end(); }).listen(8099, '127.0.0.1', () => {}); setTimeout(() => process.exit(0), 5000);"
    )
    script = f'node -e "{server}" & sleep 1; PORT=8099 pap-healthcheck; echo exit=$?'
    code, output = exec_in(running_web, ["sh", "-c", script])
    assert "exit=1" in output and "answered 301" in output, output
    code, output = exec_in(running_web, ["pap-healthcheck"], environment={"PORT": "1"})
    assert code == 1 and "unhealthy" in output, output
    code, output = exec_in(running_web, ["pap-healthcheck"])
    assert code == 0, output


def test_a_context_without_the_built_server_says_what_to_run(kit: DockerKit, tmp_path: Path) -> None:
    for name in ("Dockerfile", ".dockerignore"):
        shutil.copy(WEB_CONTEXT / name, tmp_path / name)
    shutil.copytree(WEB_CONTEXT / "docker", tmp_path / "docker")
    import docker.errors

    with pytest.raises(docker.errors.BuildError) as failed:
        kit.client.images.build(
            path=str(tmp_path), buildargs={"BASE_IMAGE": BASE_IMAGE}, pull=False, rm=True, forcerm=True
        )
    log = "".join(str(chunk.get("stream", "")) for chunk in failed.value.build_log)
    assert "run tools/build-web.sh (make web)" in log, log[-1000:]
