"""Cache: Redis 7 with a required password, persistence per stack, maxmemory below its container limit."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.config import CacheConfig
from infra.containers import (
    FILES_DIR,
    SECRETS_DIR,
    ContainerSpec,
    FileUpload,
    NetworkAttachment,
    hardened_container,
    labelled_volume,
)
from infra.naming import Naming

TYPE = "pap:platform:Cache"
UID = 10020
PORT = 6379
ALIAS = "cache"
DATA_DIR = "/data"
CONFIG_FILE = f"{FILES_DIR}/redis.conf"
PASSWORD_FILE = f"{SECRETS_DIR}/redis_password"

_PERSISTENCE: dict[str, list[str]] = {
    "none": ['save ""', "appendonly no"],
    "rdb": ["save 900 1 300 10 60 10000", "appendonly no"],
    "aof": ['save ""', "appendonly yes", "appendfsync everysec"],
}


def render_redis_config(config: CacheConfig, password: str) -> str:
    """redis.conf for the cache container (the image runs `redis-server /run/pap/redis.conf`)."""
    lines = [
        "bind 0.0.0.0",
        f"port {PORT}",
        "protected-mode yes",
        f"dir {DATA_DIR}",
        "daemonize no",
        'logfile ""',
        f"maxmemory {config.maxmemory_mb}mb",
        "maxmemory-policy allkeys-lru",
        *_PERSISTENCE[config.persistence],
        f"requirepass {password}",
    ]
    return "\n".join(lines) + "\n"


class Cache(pulumi.ComponentResource):
    container: docker.Container
    data_volume: docker.Volume | None
    host = ALIAS
    port = PORT

    def __init__(
        self,
        name: str,
        naming: Naming,
        config: CacheConfig,
        image: pulumi.Input[str],
        password: pulumi.Output[str],
        data_network: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        volumes: dict[str, pulumi.Input[str]] = {}
        self.data_volume = None
        if config.persistence != "none":
            self.data_volume = labelled_volume(f"{name}-data", naming.name("cache", "data"), naming, self)
            volumes[DATA_DIR] = self.data_volume.name
        redis_conf = password.apply(lambda value: render_redis_config(config, value))
        self.container = hardened_container(
            naming,
            ContainerSpec(
                thing="cache",
                role="cache",
                image=image,
                uid=UID,
                limits=config.limits,
                networks=[NetworkAttachment(data_network, (ALIAS,))],
                envs={"REDIS_PASSWORD_FILE": PASSWORD_FILE, "REDIS_PORT": str(PORT)},
                files=[
                    # It holds `requirepass`, so it is a secret file too.
                    FileUpload(CONFIG_FILE, redis_conf, secret=True),
                    FileUpload(PASSWORD_FILE, password, secret=True),
                ],
                volumes=volumes,
                start_period="10s",
            ),
            parent=self,
        )
        self.register_outputs({"container": self.container.name})
