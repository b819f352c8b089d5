"""The dev stack deployed once per session on the real engine, checked from the outside, removed at the end.

`--keep` (`make e2e KEEP=1`) leaves it running and prints its URL and CA path; `make e2e-down` removes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from tests.e2e import api, teardown
from tests.e2e import database as database_module
from tests.e2e.database import Database
from tests.e2e.deploy import REPO_ROOT, Deployment, deploy, merged_config, new_mocks, prepare_build_inputs
from tests.e2e.harness import ApplyingMocks
from tests.e2e.live import Edge, Stack, edge_from_outputs
from tests.e2e.summary import Summary

STACK = "dev"
VAR_DIR = REPO_ROOT / "var"
CA_FILE = VAR_DIR / "e2e" / "ca.pem"
SUMMARY_FILE = VAR_DIR / "e2e-summary.txt"
# Machine-wide, not per checkout: a CI clone and the working tree share the one engine.
LOCK_FILE = Path(tempfile.gettempdir()) / "pap-e2e-engine.lock"
HEALTHY_TIMEOUT = 120.0  # seconds from the end of the program run to /health 200 through the proxy

SUMMARY = Summary()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--keep",
        action="store_true",
        default=False,
        help="e2e: leave the deployed platform running at the end",
    )


@dataclass
class Platform:
    """Everything a check needs: the deployment, its edge, its services and tasks, the bootstrap admin."""

    deployment: Deployment
    edge: Edge
    stack: Stack
    admin_email: str
    admin_password: str
    keep: bool
    # Filled by the checks that log in, read by the login rate-limit check (logins share one window).
    login_times: list[float] = field(default_factory=list)

    @property
    def outputs(self) -> dict[str, Any]:
        return self.deployment.outputs


@dataclass(frozen=True)
class Accounts:
    admin: api.Account
    presenter: api.Account
    viewer: api.Account
    viewer_id: str


@pytest.fixture(scope="session")
def accounts(platform: Platform) -> Accounts:
    """The bootstrap admin, and a presenter and a viewer it creates: three logins, once per session."""
    assert platform.admin_email and platform.admin_password, "the dev stack must bootstrap an admin"
    with platform.edge.client() as client:
        admin = api.login(client, platform.admin_email, platform.admin_password, platform.login_times)
        _, presenter_email, presenter_password = api.create_user(client, admin, "presenter")
        viewer_id, viewer_email, viewer_password = api.create_user(client, admin, "viewer")
        presenter = api.login(client, presenter_email, presenter_password, platform.login_times)
        viewer = api.login(client, viewer_email, viewer_password, platform.login_times)
    return Accounts(admin, presenter, viewer, viewer_id)


@pytest.fixture(scope="session")
def database(platform: Platform) -> Database:
    """The stack's PostgreSQL, with the user, database and password file its service was declared with."""
    spec = platform.stack.service("database")["Spec"]["TaskTemplate"]["ContainerSpec"]
    env = dict(item.split("=", 1) for item in spec.get("Env") or [])
    # tests/e2e/database.py still names the container-era path (/run/pap/secrets); under Swarm the file
    # is the declared POSTGRES_PASSWORD_FILE (a Swarm secret under /run/secrets).
    database_module.PASSWORD_FILE = env["POSTGRES_PASSWORD_FILE"]
    return Database(platform.stack, user=env["POSTGRES_USER"], name=env["POSTGRES_DB"])


@pytest.fixture(scope="session")
def summary() -> Summary:
    return SUMMARY


def _engine_or_skip() -> None:
    try:
        docker.APIClient(timeout=10).ping()
    except (docker.errors.DockerException, OSError) as error:
        pytest.skip(f"no Docker engine answers ({error}); run `make engine` first")


def _wait_for_health(edge: Edge, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    with edge.client() as client:
        while time.monotonic() < deadline:
            try:
                response = client.get("/health")
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except Exception as error:  # connection refused/reset while the proxy starts
                last = repr(error)
            time.sleep(1)
    raise TimeoutError(f"/health through the proxy not 200 within {timeout:.0f}s (last: {last})")


def _record_images(deployment: Deployment, summary: Summary) -> None:
    api = docker.APIClient()
    for build in deployment.mocks.builds:
        size = api.inspect_image(build.image_id)["Size"]
        summary.fact(
            f"image {build.tag.split(':')[0]}",
            f"{size / 1e6:.0f} MB ({build.image_id[7:19]}, build {build.seconds:.1f}s"
            f"{', all steps cached' if build.cached else ', built'})",
        )


@contextlib.contextmanager
def _engine_to_ourselves() -> Iterator[None]:
    """One e2e session at a time on this engine: every session tears the stack down and deploys it from
    nothing, so two at once would remove each other's services mid-check."""
    with LOCK_FILE.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"e2e: another session holds {LOCK_FILE}; waiting for it", file=sys.__stderr__)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def platform(request: pytest.FixtureRequest, summary: Summary) -> Iterator[Platform]:
    _engine_or_skip()
    with _engine_to_ourselves():
        yield from _platform(request, summary)


def _platform(request: pytest.FixtureRequest, summary: Summary) -> Iterator[Platform]:
    keep = bool(request.config.getoption("--keep"))
    teardown.remove_stack(STACK)  # "from nothing": no service, secret, network or volume of the stack
    prepare_build_inputs()
    mocks = new_mocks(STACK)
    started = time.monotonic()
    try:
        deployment = deploy(STACK, mocks)
        CA_FILE.parent.mkdir(parents=True, exist_ok=True)
        CA_FILE.write_text(str(deployment.outputs["caCertificate"]))
        stack = Stack(STACK)
        edge = edge_from_outputs(deployment.outputs, stack, CA_FILE)
        _wait_for_health(edge, HEALTHY_TIMEOUT)
    except BaseException:
        mocks.remove_all()
        teardown.remove_stack(STACK)
        raise
    total = time.monotonic() - started
    cached = all(build.cached for build in mocks.builds)
    build_seconds = max((build.seconds for build in mocks.builds), default=0.0)
    summary.fact(
        "deploy: nothing -> /health 200",
        f"{total:.1f} s ({'warm' if cached else 'COLD: some image steps ran'} image cache; "
        f"program {deployment.program_seconds:.1f} s, longest image build {build_seconds:.1f} s, "
        f"{len(mocks.resources)} resources: {_kinds(mocks)})",
    )
    _record_images(deployment, summary)
    platform = Platform(
        deployment=deployment,
        edge=edge,
        stack=stack,
        admin_email=_admin_email(),
        admin_password=str(deployment.outputs.get("adminPassword", "")),
        keep=keep,
    )
    yield platform
    if keep:
        summary.fact("kept running", f"{edge.url}  (CA certificate: {CA_FILE}; remove with `make e2e-down`)")
        return
    mocks.remove_all()
    teardown.remove_stack(STACK)


def _kinds(mocks: ApplyingMocks) -> str:
    counts = Counter(resource.type.split(":")[-1] for resource in mocks.resources)
    return ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))


def _admin_email() -> str:
    """The bootstrap admin the dev stack file declares (its password is the `adminPassword` output)."""
    config, _ = merged_config(STACK, {})
    return str(json.loads(config["presentation-analytics:backend"]).get("bootstrapAdminEmail", ""))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    before = len(SUMMARY.rows)
    outcome: Any = yield
    # A check that failed before recording its row still gets one, so the table lists every failure.
    if outcome.excinfo is not None and len(SUMMARY.rows) == before:
        error = outcome.excinfo[1]
        SUMMARY.record(item.name, False, f"{type(error).__name__}: {str(error)[:120]}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not SUMMARY.rows and not SUMMARY.facts:
        return
    terminalreporter.section("e2e summary")
    terminalreporter.write_line(SUMMARY.render())
    SUMMARY.write(SUMMARY_FILE)
    terminalreporter.write_line(f"(also in {SUMMARY_FILE.relative_to(REPO_ROOT)})")
