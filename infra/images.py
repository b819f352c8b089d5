"""Images: the service, web and data-tier images, built on the engine and referenced by immutable ID."""

from __future__ import annotations

import os
from pathlib import Path

import pulumi
import pulumi_docker as docker

from infra.build_context import context_digest
from infra.naming import Naming

TYPE = "pap:platform:Images"
REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICE_CONTEXT = REPO_ROOT / "app"
WEB_CONTEXT = REPO_ROOT / "app" / "web"
# What tools/build-web.sh assembles in the web context: the Dockerfile copies it, the host builds it.
WEB_BUILT_SERVER = Path(".image") / "server.js"
# The database image is also the backup repositories' (pgBackRest and PostgreSQL, one version of both).
DATA_IMAGES = {"database": "postgres", "cache": "redis", "proxy": "nginx"}


def context_path(context: Path) -> str:
    # Relative to where the program runs (the CLI's or the plan's working directory), so state and plans do
    # not carry this machine's absolute paths.
    return os.path.relpath(context, Path.cwd())


def web_build_missing(context: Path = WEB_CONTEXT) -> str | None:
    """Why the web image cannot be built yet, or None."""
    if (context / WEB_BUILT_SERVER).is_file():
        return None
    return (
        f"{context_path(context / WEB_BUILT_SERVER)} is missing: the web image copies the frontend built on "
        "the host. Run tools/build-web.sh (make web) before deploying."
    )


class Images(pulumi.ComponentResource):
    """Builds with `docker.RemoteImage` (not `docker.Image`) and hands out `image_id`s.

    `docker.Image` with `skip_push=True` returns only its `image_name` (a moving tag) and sets `repo_digest`
    only after a push to a registry, which these machines cannot reach. `RemoteImage` with `build` builds
    on the engine and outputs `image_id` (`sha256:...`, what `docker inspect` shows): an immutable reference
    without any registry, which containers use and prod promotes.
    """

    service: pulumi.Output[str] | None  # None: this stack deploys promoted application images
    web: pulumi.Output[str] | None
    database: pulumi.Output[str]
    cache: pulumi.Output[str]
    proxy: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        naming: Naming,
        base_image: str,
        build_app_images: bool,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self._naming = naming
        self._base_image = base_image
        self.service = self.web = None
        if build_app_images:
            self.service = self._build(name, "service", SERVICE_CONTEXT)
            missing = web_build_missing()
            if missing is not None:
                # The build itself fails on it too, naming the same fix (app/web/Dockerfile).
                pulumi.log.warn(missing, self)
            self.web = self._build(name, "web", WEB_CONTEXT)
        built = {
            role: self._build(name, role, REPO_ROOT / "infra" / "images" / directory)
            for role, directory in DATA_IMAGES.items()
        }
        self.database, self.cache, self.proxy = built["database"], built["cache"], built["proxy"]
        self.register_outputs({"service": self.service, "web": self.web, **built})

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
