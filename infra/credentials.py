"""Credentials (the Secrets component): random passwords and keys, each also a Swarm secret mounted as a file.

Not `secrets.py`: the CLI runs infra/ as the program directory, first on sys.path, where that name would
replace the standard library's `secrets` for every library the program imports.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from infra.config import RotationConfig
from infra.naming import Naming
from infra.swarm import SecretFile, swarm_secret

TYPE = "pap:platform:Secrets"


@dataclass(frozen=True)
class Credential:
    """A generated value and the Swarm secret that carries it to tasks."""

    value: pulumi.Output[str]
    secret: docker.Secret

    def file(self, file_name: str) -> SecretFile:
        return SecretFile(file_name, self.secret)


class Secrets(pulumi.ComponentResource):
    """Database (owner, app role) and Redis passwords, JWT key, metrics token (and the bootstrap admin's)."""

    database_password: Credential
    database_app_password: Credential
    redis_password: Credential
    jwt_key: Credential
    metrics_token: Credential
    admin_password: Credential | None

    def __init__(
        self,
        name: str,
        naming: Naming,
        rotation: RotationConfig,
        with_admin: bool,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)

        def password(part: str, length: int, generation: int = 0) -> Credential:
            # Alphanumeric only: these land in URLs, pgpass lines and redis.conf, where punctuation needs
            # escaping (an earlier version broke on '/' in base64). 32 of [A-Za-z0-9]: > 190 bits.
            generated = random.RandomPassword(
                f"{name}-{part}",
                length=length,
                special=False,
                min_lower=1,
                min_upper=1,
                min_numeric=1,
                # A new generation (stack config `rotation.<secret>`) is a new value, hence a new Swarm
                # secret name, and every service that mounts it rolls onto it. Generation 0 sets no keeper,
                # so stacks deployed before rotation existed keep their values.
                keepers={"generation": str(generation)} if generation else None,
                opts=pulumi.ResourceOptions(parent=self),
            )
            value: pulumi.Output[str] = pulumi.Output.secret(generated.result)
            return Credential(value, swarm_secret(naming, part, value, parent=self))

        self.database_password = password("database-password", 32)
        self.database_app_password = password("database-app-password", 32, rotation.database_app_password)
        self.redis_password = password("redis-password", 32, rotation.redis_password)
        self.jwt_key = password("jwt-key", 64, rotation.jwt_key)
        self.metrics_token = password("metrics-token", 40, rotation.metrics_token)
        self.admin_password = password("admin-password", 24) if with_admin else None
        self.register_outputs(
            {
                "databasePassword": self.database_password.value,
                "databaseAppPassword": self.database_app_password.value,
                "redisPassword": self.redis_password.value,
                "jwtKey": self.jwt_key.value,
                "metricsToken": self.metrics_token.value,
            }
        )
