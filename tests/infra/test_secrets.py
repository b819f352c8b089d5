"""Secrets: random, secret in state, carried only by Swarm secrets mounted as files (0400, the task's UID),
never in an env or another plain input; a new value is a new secret name, and rotation renames one only."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import settings

from infra.config import RotationConfig
from infra.credentials import Secrets
from infra.mocks import RealisticMocks, is_secret_value
from infra.naming import Naming
from infra.plan import PlanRun, RecordedResource
from infra.swarm import content_name
from tests.infra.helpers import (
    EXPECTED_UIDS,
    RANDOM_PASSWORD,
    SECRET,
    SECRET_FILE_MODE,
    SECRETS_DIR,
    SERVICE_CONFIG,
    RememberingMocks,
    decoded,
    env,
    inputs,
    mocked_with,
    named,
    of_type,
    role_of,
    run_stack,
    secret_mounts,
    secret_part,
    services,
    the_service,
    walk_strings,
)

GENERATED = ("database-password", "database-app-password", "redis-password", "jwt-key", "metrics-token")
# Hold a generated value or a TLS private key: redis.conf, the database's pgpass (pgBackRest's login), the
# proxy's key, each pgBackRest host's key, and each repository's secret include (its cipher passphrase).
DERIVED = (
    "redis-conf",
    "pgpass",
    "tls-key",
    "pgbackrest-database-key",
    "pgbackrest-backup-key",
    "pgbackrest-backup-offsite-key",
    "pgbackrest-repo1",
    "pgbackrest-repo2",
)
PGBACKREST_KEYS = ("pgbackrest-database-key", "pgbackrest-backup-key", "pgbackrest-backup-offsite-key")


@pytest.fixture
def mocked() -> Iterator[None]:
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(RealisticMocks(), project="presentation-analytics", stack="unit", preview=False)
    yield


@pulumi.runtime.test
def _credentials_are_secret_outputs() -> pulumi.Output[list[bool]]:
    component = Secrets(
        "secrets", Naming("presentation-analytics", "unit"), RotationConfig(), with_admin=True
    )
    credentials = [
        component.database_password,
        component.database_app_password,
        component.redis_password,
        component.jwt_key,
        component.metrics_token,
        component.admin_password,
    ]
    flags = [credential.value.is_secret() for credential in credentials if credential is not None]
    return pulumi.Output.all(*flags).apply(_all_true)


def _all_true(flags: list[bool]) -> list[bool]:
    assert flags == [True] * 6
    return flags


def test_credentials_are_secret_outputs(mocked: None) -> None:
    _credentials_are_secret_outputs()


def _secret_values(plan: PlanRun) -> dict[str, str]:
    """The content of every Swarm secret of the stack, by its part (`jwt-key`, `pgpass`, ...)."""
    return {secret_part(secret): decoded(secret) for secret in of_type(plan, SECRET)}


def _passphrases(plan: PlanRun) -> dict[int, str]:
    """Each repository's cipher passphrase, from its secret include (`[global]`, `repoN-cipher-pass=...`)."""
    values = _secret_values(plan)
    found = {}
    for index in (1, 2):
        lines = values[f"pgbackrest-repo{index}"].splitlines()
        (line,) = [line for line in lines if line.startswith(f"repo{index}-cipher-pass=")]
        found[index] = line.split("=", 1)[1]
    return found


def _generated(plan: PlanRun) -> set[str]:
    """The values the mocks generated for the RandomPasswords (the cipher passphrases too), and the TLS
    private keys (the proxy's and pgBackRest's)."""
    values = _secret_values(plan)
    generated = {values[part] for part in GENERATED}
    if "admin-password" in values:
        generated.add(values["admin-password"])
    keys = {values[part].strip() for part in ("tls-key", *PGBACKREST_KEYS)}
    return generated | set(_passphrases(plan).values()) | keys


def _plain_strings(resource: RecordedResource) -> Iterator[str]:
    """Every string of the inputs that is not inside a secret wrapper."""

    def walk(value: object) -> Iterator[str]:
        if is_secret_value(value):
            return
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from walk(item)
        elif isinstance(value, list):
            for item in value:
                yield from walk(item)

    yield from walk(resource.inputs)


def test_passwords_are_long_and_alphanumeric(plan: PlanRun) -> None:
    passwords = of_type(plan, RANDOM_PASSWORD)
    assert len(passwords) >= 5
    for password in passwords:
        values = inputs(password)
        assert values["length"] >= 24 and values["special"] is False


def test_every_secret_is_declared(dev: PlanRun, prod: PlanRun) -> None:
    assert set(_secret_values(dev)) == {*GENERATED, *DERIVED, "admin-password"}
    assert set(_secret_values(prod)) == {*GENERATED, *DERIVED}
    lengths = {part: len(_secret_values(dev)[part]) for part in GENERATED}
    assert lengths == {
        "database-password": 32,
        "database-app-password": 32,
        "redis-password": 32,
        "jwt-key": 64,
        "metrics-token": 40,
    }
    passphrases = _passphrases(dev)
    assert {index: len(value) for index, value in passphrases.items()} == {1: 48, 2: 48}
    assert passphrases[1] != passphrases[2]  # one per repository: one leaked does not open the other
    for part in PGBACKREST_KEYS:
        assert _secret_values(dev)[part].startswith("-----BEGIN EC PRIVATE KEY-----"), part


def test_no_secret_value_in_any_service_input(plan: PlanRun) -> None:
    """Every generated value, searched for in everything every Service declares (env, args, labels, ...)."""
    generated = _generated(plan)
    # database owner and app role, redis, JWT key, metrics token, 2 cipher passphrases, 4 TLS keys
    assert len(generated) >= 11
    assert all(len(value) >= 24 for value in generated)
    for service in services(plan):
        for text in walk_strings(inputs(service)):
            leaked = [value for value in generated if value in text]
            assert not leaked, f"{service.name}: a secret value in its inputs"


def test_no_secret_value_in_any_plain_input(plan: PlanRun) -> None:
    generated = _generated(plan)
    for resource in plan.resources:
        for text in _plain_strings(resource):
            leaked = [value for value in generated if value in text]
            assert not leaked, f"{resource.name}: a secret value in a plain input"


def test_no_secret_value_in_any_swarm_config(plan: PlanRun) -> None:
    """A config is stored in the clear: its decoded content (nginx.conf, pgBackRest's files, certificates)
    holds no generated value, no cipher passphrase and no private key."""
    generated = _generated(plan)
    configs = of_type(plan, SERVICE_CONFIG)
    assert len(configs) == 9
    for config in configs:
        content = decoded(config)
        assert not [value for value in generated if value in content], config.name
        assert "PRIVATE KEY" not in content and "cipher-pass" not in content, config.name


def test_secret_data_is_a_pulumi_secret_holding_the_base64_of_the_value(plan: PlanRun) -> None:
    for secret in of_type(plan, SECRET):
        assert is_secret_value(secret.inputs["data"]), secret.name  # encrypted in the state
        data = inputs(secret)["data"]
        assert base64.b64encode(decoded(secret).encode()).decode() == data, secret.name


def test_secret_names_are_the_hash_of_their_content(plan: PlanRun) -> None:
    """Swarm secrets are immutable: new content is a new name, which Pulumi replaces before deleting."""
    for secret in of_type(plan, SECRET):
        digest = hashlib.sha256(decoded(secret).encode()).hexdigest()[:12]
        assert inputs(secret)["name"] == f"{secret.name}-{digest}", secret.name
        # Parts may hold digits (`pgbackrest-repo1`), never the hash's place: 12 hex at the end.
        assert re.fullmatch(
            rf"pap-{plan.stack}-[a-z][a-z0-9-]*[a-z0-9]-[0-9a-f]{{12}}", inputs(secret)["name"]
        )


def test_every_file_setting_names_a_mounted_secret(plan: PlanRun) -> None:
    for service in services(plan):
        mounts = secret_mounts(service)
        for key, value in env(service).items():
            if key.endswith("_FILE") or key == "PGPASSFILE":
                assert value.startswith(f"{SECRETS_DIR}/"), (service.name, key)
                assert value in mounts, (service.name, key)


def test_envs_name_files_not_values(plan: PlanRun) -> None:
    for service in services(plan):
        for key, value in env(service).items():
            if any(word in key for word in ("PASSWORD", "SECRET", "TOKEN", "KEY")) or key == "PGPASSFILE":
                assert key.endswith("_FILE") or key == "PGPASSFILE", key
                assert value.startswith(f"{SECRETS_DIR}/"), key


def test_secret_files_belong_to_the_task_user_and_only_it_reads_them(plan: PlanRun) -> None:
    declared = {inputs(secret)["name"]: secret for secret in of_type(plan, SECRET)}
    for service in services(plan):
        uid = str(EXPECTED_UIDS[role_of(service)])
        for path, mount in secret_mounts(service).items():
            assert path.startswith(f"{SECRETS_DIR}/"), (service.name, path)
            assert mount["fileMode"] == SECRET_FILE_MODE == 0o400, (service.name, path)
            assert (mount["fileUid"], mount["fileGid"]) == (uid, "0"), (service.name, path)
            secret = declared[mount["secretName"]]
            assert mount["secretId"], (service.name, path)
            assert secret.urn in service.dependencies, (service.name, path)


def test_every_secret_is_mounted_somewhere(plan: PlanRun) -> None:
    mounted = {mount["secretName"] for service in services(plan) for mount in secret_mounts(service).values()}
    assert mounted == {inputs(secret)["name"] for secret in of_type(plan, SECRET)}


@pytest.mark.parametrize(
    ("service", "path"),
    [("db", "/run/secrets/db_app_password"), ("backend", "/run/secrets/database_password")],
)
def test_database_app_password_is_a_secret_file(plan: PlanRun, service: str, path: str) -> None:
    mount = secret_mounts(named(plan, f"pap-{plan.stack}-{service}"))[path]
    secret = named(plan, mount["secretName"])
    assert secret_part(secret) == "database-app-password"
    assert is_secret_value(secret.inputs["data"]) and len(decoded(secret)) == 32
    assert mount["fileMode"] == 0o400


def test_content_name() -> None:
    naming = Naming("presentation-analytics", "unit")

    @pulumi.runtime.test
    def names() -> pulumi.Output[Any]:
        return pulumi.Output.all(
            content_name(naming, "jwt-key", "one"),
            content_name(naming, "jwt-key", "one"),
            content_name(naming, "jwt-key", "two"),
            content_name(naming, "metrics-token", "one"),
        ).apply(check)

    def check(values: list[str]) -> None:
        first, same, other, part = values
        assert first == same == "pap-unit-jwt-key-" + hashlib.sha256(b"one").hexdigest()[:12]
        assert other != first and other.startswith("pap-unit-jwt-key-")
        assert part.startswith("pap-unit-metrics-token-") and part.endswith(first[-12:])

    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(RealisticMocks(), project="presentation-analytics", stack="unit", preview=False)
    names()


# ---------------------------------------------------------------- rotation


def _keepers(plan: PlanRun) -> dict[str, Any]:
    return {password.name: inputs(password).get("keepers") for password in of_type(plan, RANDOM_PASSWORD)}


def test_rotation_generations_are_keepers(dev: PlanRun, stack_outputs_dir: Path) -> None:
    # Generation 0 sets no keeper: stacks deployed before rotation existed keep their values.
    assert set(_keepers(dev).values()) == {None}
    rotated = run_stack("dev", stack_outputs_dir, {"rotation": {"jwtKey": 1, "metricsToken": 3}})
    assert _keepers(rotated) == {
        **_keepers(dev),
        "secrets-jwt-key": {"generation": "1"},
        "secrets-metrics-token": {"generation": "3"},
    }


def test_a_rotation_bump_renames_only_that_secret(stack_outputs_dir: Path) -> None:
    """`rotation.jwtKey: 1` on a deployed stack: a new JWT key, so a new Swarm secret name (every service
    that mounts it rolls onto it); every other secret keeps its value and so its name."""
    state: dict[tuple[str, str, str], Any] = {}
    with mocked_with(lambda dirs: RememberingMocks(state, dirs)):
        before = run_stack("dev", stack_outputs_dir)
        again = run_stack("dev", stack_outputs_dir)
        rotated = run_stack("dev", stack_outputs_dir, {"rotation": {"jwtKey": 1}})

    def names(run: PlanRun) -> dict[str, str]:
        return {secret_part(secret): inputs(secret)["name"] for secret in of_type(run, SECRET)}

    assert names(again) == names(before)  # an unchanged stack renames nothing
    changed = {part for part, name in names(rotated).items() if names(before)[part] != name}
    assert changed == {"jwt-key"}
    backend_key = secret_mounts(the_service(rotated, "backend"))["/run/secrets/secret_key"]["secretName"]
    assert backend_key == names(rotated)["jwt-key"]
