"""Credentials (the Secrets component): random passwords and keys that only ever reach containers as files.

Not `secrets.py`: the CLI runs infra/ as the program directory, first on sys.path, where that name would
replace the standard library's `secrets` for every library the program imports.
"""

from __future__ import annotations

import pulumi
import pulumi_random as random

TYPE = "pap:platform:Secrets"


class Secrets(pulumi.ComponentResource):
    """Database (owner, app role) and Redis passwords, JWT key, metrics token (and the bootstrap admin's)."""

    database_password: pulumi.Output[str]
    database_app_password: pulumi.Output[str]
    redis_password: pulumi.Output[str]
    jwt_key: pulumi.Output[str]
    metrics_token: pulumi.Output[str]
    admin_password: pulumi.Output[str] | None

    def __init__(self, name: str, with_admin: bool, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)

        def password(part: str, length: int) -> pulumi.Output[str]:
            # Alphanumeric only: these land in URLs, pgpass lines and redis.conf, where punctuation needs
            # escaping (an earlier version broke on '/' in base64). 32 of [A-Za-z0-9]: > 190 bits.
            generated = random.RandomPassword(
                f"{name}-{part}",
                length=length,
                special=False,
                min_lower=1,
                min_upper=1,
                min_numeric=1,
                opts=pulumi.ResourceOptions(parent=self),
            )
            return pulumi.Output.secret(generated.result)

        self.database_password = password("database-password", 32)
        self.database_app_password = password("database-app-password", 32)
        self.redis_password = password("redis-password", 32)
        self.jwt_key = password("jwt-key", 64)
        self.metrics_token = password("metrics-token", 40)
        self.admin_password = password("admin-password", 24) if with_admin else None
        self.register_outputs(
            {
                "databasePassword": self.database_password,
                "databaseAppPassword": self.database_app_password,
                "redisPassword": self.redis_password,
                "jwtKey": self.jwt_key,
                "metricsToken": self.metrics_token,
            }
        )
