"""Cache: Redis 7 with a required password, persistence per stack, maxmemory below its limit, pinned."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.config import CacheConfig
from infra.credentials import Secrets
from infra.naming import Naming
from infra.networks import Networks
from infra.swarm import (
    DATA_NODE_CONSTRAINT,
    Health,
    NetworkAttachment,
    SecretFile,
    ServiceSpec,
    hardened_service,
    labelled_volume,
    swarm_secret,
)

TYPE = "pap:platform:Cache"
UID = 10020
PORT = 6379
ALIAS = "cache"
DATA_DIR = "/data"

_PERSISTENCE: dict[str, list[str]] = {
    "none": ['save ""', "appendonly no"],
    "rdb": ["save 900 1 300 10 60 10000", "appendonly no"],
    "aof": ['save ""', "appendonly yes", "appendfsync everysec"],
}


def render_redis_config(config: CacheConfig, password: str) -> str:
    """redis.conf for the cache (the image runs `redis-server <file>`); it holds `requirepass`: a secret."""
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
    service: docker.Service
    data_volume: docker.Volume | None
    host = ALIAS
    port = PORT

    def __init__(
        self,
        name: str,
        *,
        naming: Naming,
        config: CacheConfig,
        image: pulumi.Input[str],
        secrets: Secrets,
        networks: Networks,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        volumes: dict[str, pulumi.Input[str]] = {}
        self.data_volume = None
        if config.persistence != "none":
            self.data_volume = labelled_volume(f"{name}-data", naming.name("cache", "data"), naming, self)
            volumes[DATA_DIR] = self.data_volume.name
        redis_conf = secrets.redis_password.value.apply(lambda value: render_redis_config(config, value))
        conf = SecretFile("redis.conf", swarm_secret(naming, "redis-conf", redis_conf, parent=self))
        password = secrets.redis_password.file("redis_password")  # for the health check's redis-cli
        self.service = hardened_service(
            naming,
            ServiceSpec(
                thing="cache",
                role="cache",
                image=image,
                uid=UID,
                resources=config,
                networks=[NetworkAttachment(networks.data.name, (ALIAS,))],
                env={"REDIS_PASSWORD_FILE": password.path, "REDIS_PORT": str(PORT)},
                args=["redis-server", conf.path],
                secrets=[conf, password],
                volumes=volumes,
                order="stop-first",  # one writer per append-only file
                constraints=[DATA_NODE_CONSTRAINT],
                health=Health(start_period="10s"),
            ),
            parent=self,
        )
        self.register_outputs({"service": self.service.name})
