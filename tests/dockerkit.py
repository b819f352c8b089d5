"""Docker helpers for the image tests: build once, run hardened, seed /run/pap like the provider, clean up.

Everything created carries `pap.test=images` plus a per-session id, and `DockerKit.close()` removes the
containers, volumes and networks of its session. Built images are kept (tagged `pap-test-<name>:latest`,
labelled `pap.test=images`): they are the layer cache that makes the next session's build take seconds;
PAP_TEST_REMOVE_IMAGES=1 (or `docker image prune -a --filter label=pap.test=images`) removes them.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import re
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

docker = pytest.importorskip("docker", reason="the docker Python package is needed for the image tests")
from docker.errors import APIError, DockerException, ImageNotFound, NotFound  # noqa: E402
from docker.models.containers import Container  # noqa: E402
from docker.models.images import Image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BASE_IMAGE = "debian:bookworm-slim"
TEST_LABEL = "pap.test"
TEST_LABEL_VALUE = "images"
SESSION_LABEL = "pap.test.session"
# An earlier session still holding resources after this long was interrupted (a session takes minutes).
STALE_AFTER = datetime.timedelta(hours=2)
HARDENING: dict[str, Any] = {
    "read_only": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
}


@dataclass(frozen=True)
class SeedFile:
    """A file the Docker provider's `uploads` would write: root-owned, with the given mode."""

    path: str  # absolute, under /run/pap
    content: bytes
    mode: int = 0o440


@dataclass(frozen=True)
class BuiltImage:
    image: Image
    seconds: float

    @property
    def id(self) -> str:
        return str(self.image.id)

    def size_bytes(self) -> int:
        return int(self.image.attrs["Size"])


def engine_client() -> Any:
    """A client of a working engine; skip (a failure in CI) with the reason when there is none."""
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except DockerException as error:
        pytest.skip(f"no Docker engine answers ({error}); start one with tools/docker-engine.sh")
    return client


def ensure_base_image(client: Any) -> None:
    """tools/docker-engine.sh makes the base image locally when it is missing (no registry is reachable)."""
    try:
        client.images.get(BASE_IMAGE)
        return
    except ImageNotFound:
        pass
    result = subprocess.run(
        [str(ROOT / "tools" / "docker-engine.sh")], capture_output=True, text=True, check=False, timeout=600
    )
    if result.returncode != 0:
        pytest.fail(f"tools/docker-engine.sh could not make {BASE_IMAGE}:\n{result.stdout}\n{result.stderr}")


def tar_of(files: Sequence[SeedFile]) -> bytes:
    """A tar archive of absolute paths, root:root, as the provider sends to CopyToContainer at `/`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for seed in files:
            info = tarfile.TarInfo(seed.path.lstrip("/"))
            info.size = len(seed.content)
            info.mode = seed.mode
            info.uid = info.gid = 0
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(seed.content))
    return buffer.getvalue()


@dataclass
class DockerKit:
    client: Any
    session: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    build_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def labels(self) -> dict[str, str]:
        return {TEST_LABEL: TEST_LABEL_VALUE, SESSION_LABEL: self.session}

    def name(self, what: str) -> str:
        return f"pap-test-{what}-{self.session}"

    def build(self, name: str, context: Path) -> BuiltImage:
        """Builds `context` with the classic builder (the layer cache of earlier sessions is reused)."""
        tag = f"pap-test-{name}:latest"
        try:
            previous: str | None = self.client.images.get(tag).id
        except ImageNotFound:
            previous = None
        started = time.monotonic()
        try:
            image, _ = self.client.images.build(
                path=str(context),
                tag=tag,
                buildargs={"BASE_IMAGE": BASE_IMAGE},
                labels={TEST_LABEL: TEST_LABEL_VALUE},
                rm=True,
                forcerm=True,
                pull=False,
                timeout=900,
            )
        except docker.errors.BuildError as error:
            log = "".join(str(chunk.get("stream", chunk.get("error", ""))) for chunk in error.build_log)
            pytest.fail(f"building {context} failed: {error}\n{log[-6000:]}")
        seconds = time.monotonic() - started
        self.build_seconds[name] = seconds
        if previous and previous != image.id:
            # The replaced image is dangling now; it would pile up with every change of the context.
            with contextlib.suppress(APIError, NotFound):
                self.client.images.remove(previous, noprune=False)
        return BuiltImage(image=image, seconds=seconds)

    def volume(self, what: str) -> str:
        return str(self.client.volumes.create(name=self.name(what), labels=self.labels).name)

    def network(self, what: str, *, internal: bool = False) -> str:
        network = self.client.networks.create(
            self.name(what), driver="bridge", internal=internal, labels=self.labels
        )
        return str(network.name)

    def seed(self, image: BuiltImage, volume: str, files: Sequence[SeedFile], *, user: str) -> None:
        """Puts files into the /run/pap volume through a never-started writable seed container.

        This is what the Docker provider's `uploads` do (CopyToContainer at `/`, absolute entry names);
        Docker refuses that on a read-only container, so the platform seeds the volume with one never started.
        """
        seed = self.client.containers.create(
            image.id,
            name=self.name(f"seed-{uuid.uuid4().hex[:6]}"),
            user=user,
            network_mode="none",
            labels=self.labels,
            volumes={volume: {"bind": "/run/pap", "mode": "rw"}},
            **{key: value for key, value in HARDENING.items() if key != "read_only"},
        )
        try:
            assert seed.put_archive("/", tar_of(files)), "the engine refused the upload"
        finally:
            seed.remove(force=True)

    def run(
        self,
        image: BuiltImage | str,
        what: str,
        *,
        user: str,
        command: Sequence[str] | None = None,
        environment: Mapping[str, str] | None = None,
        volumes: Mapping[str, str] | None = None,
        tmpfs: Sequence[str] = ("/tmp",),
        network: str | None = None,
        hardened: bool = True,
        **extra: Any,
    ) -> Container:
        """Starts a container the way the platform runs them: read-only, no capabilities, no new privileges.

        On a user-defined `network` other containers reach it by its name (`self.name(what)`).
        """
        container = self.client.containers.create(
            image.id if isinstance(image, BuiltImage) else image,
            command=list(command) if command is not None else None,
            name=self.name(what),
            user=user,
            environment=dict(environment or {}),
            volumes={source: {"bind": target, "mode": "rw"} for source, target in (volumes or {}).items()},
            tmpfs={path: "rw,nosuid,nodev,noexec,size=64m" for path in tmpfs},
            labels=self.labels,
            network=network,
            **(HARDENING if hardened else {}),
            **extra,
        )
        container.start()
        return container

    def oneshot(
        self,
        image: BuiltImage,
        command: Sequence[str],
        *,
        entrypoint: Sequence[str] | None = None,
        user: str | None = None,
        network: str | None = None,
        environment: Mapping[str, str] | None = None,
        timeout: float = 120,
    ) -> tuple[int, str]:
        """Runs a command to completion in a fresh hardened container; returns (exit code, output)."""
        container = self.client.containers.create(
            image.id,
            command=list(command),
            entrypoint=list(entrypoint) if entrypoint is not None else None,
            name=self.name(f"oneshot-{uuid.uuid4().hex[:6]}"),
            user=user,
            environment=dict(environment or {}),
            network=network,
            network_mode=None if network else "none",
            labels=self.labels,
            tmpfs={"/tmp": "rw,nosuid,nodev,size=16m"},
            **HARDENING,
        )
        try:
            container.start()
            code = int(container.wait(timeout=timeout)["StatusCode"])
            return code, container.logs().decode(errors="replace")
        finally:
            container.remove(force=True)

    def privileged_programs(self, image: BuiltImage) -> list[str]:
        """Regular files with a setuid or setgid bit in the image's filesystem (read from an export)."""
        container = self.client.containers.create(
            image.id,
            name=self.name(f"export-{uuid.uuid4().hex[:6]}"),
            labels=self.labels,
            network_mode="none",
        )
        try:
            stream = container.export(chunk_size=1 << 20)
            reader = io.BufferedReader(_ChunkReader(stream), buffer_size=1 << 20)
            with tarfile.open(fileobj=reader, mode="r|") as archive:
                return [member.name for member in archive if member.isfile() and member.mode & 0o6000]
        finally:
            container.remove(force=True)

    def close(self) -> None:
        """Removes this session's containers, volumes and networks (and images if PAP_TEST_REMOVE_IMAGES=1).

        Images stay by default: they are the layer cache that makes the next session's build take seconds.
        """
        remove_labelled(self.client, [f"{TEST_LABEL}={TEST_LABEL_VALUE}", f"{SESSION_LABEL}={self.session}"])
        if os.environ.get("PAP_TEST_REMOVE_IMAGES") == "1":
            for image in self.client.images.list(filters={"label": f"{TEST_LABEL}={TEST_LABEL_VALUE}"}):
                with contextlib.suppress(APIError, NotFound):
                    self.client.images.remove(image.id, force=True)

    def sweep_abandoned(self) -> None:
        """Removes what an interrupted earlier session left (labelled, older than STALE_AFTER)."""
        remove_labelled(self.client, [f"{TEST_LABEL}={TEST_LABEL_VALUE}"], older_than=STALE_AFTER)


def _created(attrs: dict[str, Any]) -> datetime.datetime | None:
    stamp = attrs.get("Created") or attrs.get("CreatedAt")
    if not isinstance(stamp, str):
        return None
    # The engine gives nanoseconds and "Z" or an offset; seconds are precise enough here.
    stamp = re.sub(r"\.\d+", "", stamp).replace("Z", "+00:00")
    with contextlib.suppress(ValueError):
        return datetime.datetime.fromisoformat(stamp)
    return None


def remove_labelled(client: Any, labels: list[str], older_than: datetime.timedelta | None = None) -> None:
    """Removes containers, then volumes, then networks carrying all `labels` (only old ones if asked)."""

    def wanted(attrs: dict[str, Any]) -> bool:
        if older_than is None:
            return True
        created = _created(attrs)
        return created is not None and datetime.datetime.now(datetime.UTC) - created > older_than

    selector = {"label": labels}
    for container in client.containers.list(all=True, filters=selector):
        if wanted(container.attrs):
            with contextlib.suppress(APIError, NotFound):
                container.remove(force=True, v=True)
    for volume in client.volumes.list(filters=selector):
        if wanted(volume.attrs):
            with contextlib.suppress(APIError, NotFound):
                volume.remove(force=True)
    for network in client.networks.list(filters=selector):
        if wanted(network.attrs):
            with contextlib.suppress(APIError, NotFound):
                network.remove()


class _ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (the engine's export stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def health_status(container: Container) -> str:
    container.reload()
    return str(container.attrs["State"].get("Health", {}).get("Status", "none"))


def wait_for_health(container: Container, wanted: str = "healthy", *, timeout: float = 90) -> float:
    """Seconds until the engine's own HEALTHCHECK reports `wanted`; fails with the logs otherwise."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        status = health_status(container)
        if status == wanted:
            return time.monotonic() - started
        if container.attrs["State"]["Status"] in ("exited", "dead"):
            break
        time.sleep(1)
    container.reload()
    health = container.attrs["State"].get("Health", {})
    logs = container.logs(tail=60).decode(errors="replace")
    pytest.fail(
        f"{container.name} did not become {wanted} in {timeout:.0f}s "
        f"(state {container.attrs['State']['Status']}, health {health.get('Status')}, "
        f"last probes {health.get('Log', [])[-2:]}):\n{logs}"
    )


def exec_in(container: Container, command: Sequence[str], **kwargs: Any) -> tuple[int, str]:
    """Runs a command in a running container; returns (exit code, combined output)."""
    result = container.exec_run(list(command), **kwargs)
    return int(result.exit_code), result.output.decode(errors="replace")


def image_user(image: BuiltImage) -> str:
    return str(image.image.attrs["Config"].get("User", ""))


def last_instruction(dockerfile: Path) -> str:
    """The last instruction of a Dockerfile (continuation lines joined, comments skipped)."""
    instructions: list[str] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        instructions.append(pending + line)
        pending = ""
    return instructions[-1]
