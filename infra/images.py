"""Images: the service image and the data-tier images, built on the engine and referenced by immutable ID."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pulumi
import pulumi_docker as docker

from infra.naming import Naming

TYPE = "pap:platform:Images"
REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICE_CONTEXT = REPO_ROOT / "app"
DATA_IMAGES = {"database": "postgres", "cache": "redis", "proxy": "nginx", "backup": "backup"}
_SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def _context_files(context: Path) -> Iterator[Path]:
    for path in sorted(context.rglob("*")):
        relative = path.relative_to(context)
        if path.is_file() and not _SKIPPED_PARTS.intersection(relative.parts) and path.suffix != ".pyc":
            yield path


def context_digest(context: Path) -> str:
    """A digest of the build context's files, so any change to them rebuilds the image (and only then)."""
    digest = hashlib.sha256()
    for path in _context_files(context):
        digest.update(str(path.relative_to(context)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def context_path(context: Path) -> str:
    # Relative to where the program runs (the CLI's or the plan's working directory), so state and plans do
    # not carry this machine's absolute paths.
    return os.path.relpath(context, Path.cwd())


class Images(pulumi.ComponentResource):
    """Builds with `docker.RemoteImage` (not `docker.Image`) and hands out `image_id`s.

    `docker.Image` with `skip_push=True` returns only its `image_name` (a moving tag) and sets `repo_digest`
    only after a push to a registry, which these machines cannot reach. `RemoteImage` with `build` builds
    on the engine and outputs `image_id` (`sha256:...`, what `docker inspect` shows): an immutable reference
    without any registry, which containers use and prod promotes.
    """

    service: pulumi.Output[str] | None  # None: this stack deploys a promoted image
    database: pulumi.Output[str]
    cache: pulumi.Output[str]
    proxy: pulumi.Output[str]
    backup: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        naming: Naming,
        base_image: str,
        build_service: bool,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self._naming = naming
        self._base_image = base_image
        self.service = self._build(name, "service", SERVICE_CONTEXT) if build_service else None
        built = {
            role: self._build(name, role, REPO_ROOT / "infra" / "images" / directory)
            for role, directory in DATA_IMAGES.items()
        }
        self.database, self.cache, self.proxy, self.backup = (
            built["database"],
            built["cache"],
            built["proxy"],
            built["backup"],
        )
        self.register_outputs({"service": self.service, **built})

    def _build(self, name: str, part: str, context: Path) -> pulumi.Output[str]:
        digest = context_digest(context)
        image = docker.RemoteImage(
            f"{name}-{part}",
            name=f"{self._naming.name(part)}:{digest[:12]}",
            build=docker.RemoteImageBuildArgs(
                context=context_path(context),
                dockerfile="Dockerfile",
                build_args={"BASE_IMAGE": self._base_image},
                label=self._naming.labels(),
                pull_parent=False,  # no registry: the base image is made locally (tools/docker-engine.sh)
                remove=True,
                force_remove=True,
            ),
            triggers={"context": digest, "baseImage": self._base_image},
            # Kept on destroy: prod (and a later rollback) runs the image ID dev built, and dev and prod may
            # build identical data images that one `docker rmi` by ID would refuse or break.
            keep_locally=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return image.image_id
