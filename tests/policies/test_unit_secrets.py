"""Secret and stack rules called directly (no analyzer): the edge cases the recorded program does not
exercise."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_STRING_VALUE

from policies.rules import (
    secrets,
    stack,
)
from policies.rules._props import (
    CONTAINER,
    IMAGE,
    REMOTE_IMAGE,
    SECRET,
    SERVICE_CONFIG,
    VOLUME,
)
from tests.policies.support import (
    encode,
    plan_item,
    run_resource_rule,
    run_stack_rule,
    service_item,
    service_messages,
)

PEM_KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n"


# --- secrets -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "fires"),
    [
        ({"PAP_SECRET_KEY": "abcdefabcdef"}, True),
        ({"POSTGRES_PASSWORD": "pw-value-1"}, True),
        ({"API_TOKEN": "token-value-2"}, True),
        ({"PAP_SECRET_KEY_FILE": "/run/secrets/secret_key"}, False),
        ({"PAP_SECRET_KEY": "/run/secrets/secret_key"}, False),
        ({"PAP_SECRET_KEY": ""}, False),
        ({"PAP_DATABASE_URL": "postgresql+psycopg://pap@database:5432/pap"}, False),
        ({"PAP_REDIS_URL": "redis://:s3cret@cache:6379/0"}, True),
        ({"PAP_LOG_LEVEL": "INFO"}, False),
    ],
)
def test_plaintext_secrets_in_env(env: dict[str, str], fires: bool) -> None:
    messages = service_messages(secrets.no_plaintext_secrets, env=env)
    assert bool(messages) is fires
    (value,) = env.values()
    assert all(value not in message for message in messages if value)  # never echo the secret


def test_plaintext_secrets_in_image_build_args() -> None:
    assert run_resource_rule(secrets.no_plaintext_secrets, IMAGE, {"build": {"args": {"NPM_TOKEN": "x"}}})
    assert run_resource_rule(
        secrets.no_plaintext_secrets, REMOTE_IMAGE, {"build": {"buildArgs": {"TOKEN": "y"}}}
    )
    assert (
        run_resource_rule(secrets.no_plaintext_secrets, REMOTE_IMAGE, {"build": {"buildArgs": {"BASE": "z"}}})
        == []
    )


def _secret(**mount: Any) -> dict[str, Any]:
    return {"secretId": "id", "fileName": "/run/secrets/x", **mount}


@pytest.mark.parametrize(
    ("mount", "fires"),
    [
        (_secret(fileMode=0o400, fileUid="10001"), False),
        (_secret(fileMode=0o600, fileUid="10001"), False),
        (_secret(fileMode=0o440, fileUid="10001"), True),
        (_secret(fileMode=0o404, fileUid="10001"), True),
        (_secret(fileUid="10001"), True),  # Swarm's default mode 0444
        (_secret(fileMode=0o400, fileUid="0"), True),
        (_secret(fileMode=0o400), True),  # Swarm's default owner 0
        (_secret(fileMode=UNKNOWN_STRING_VALUE, fileUid="10001"), False),
    ],
)
def test_secret_files_owner_only(mount: dict[str, Any], fires: bool) -> None:
    messages = service_messages(secrets.secret_files_owner_only, user="10001:0", secrets=[mount])
    assert bool(messages) is fires


def test_secret_owner_not_compared_with_an_unknown_or_named_user() -> None:
    rule = secrets.secret_files_owner_only
    mount = _secret(fileMode=0o400, fileUid="10001")
    assert service_messages(rule, user=UNKNOWN_STRING_VALUE, secrets=[mount]) == []
    assert service_messages(rule, user="app", secrets=[mount]) == []  # service-non-root reports it


def test_secret_files_mounted_from_declared_secrets() -> None:
    rule = secrets.service_secret_files_mounted
    declared = [plan_item(SECRET, f"secret-{name}", {"name": name}) for name in ("key-1", "pgpass-1")]
    env = {"PAP_SECRET_KEY_FILE": "/run/secrets/secret_key", "PGPASSFILE": "/run/secrets/pgpass"}
    both = [
        _secret(fileName="secret_key", secretName="key-1"),  # relative: under /run/secrets
        _secret(fileName="/run/secrets/pgpass", secretName="pgpass-1"),
    ]

    def backend(mounts: Any) -> dict[str, Any]:
        return service_item("backend", "backend", taskSpec={"containerSpec": {"env": env, "secrets": mounts}})

    assert run_stack_rule(rule, [*declared, backend(both)]) == []
    reported = run_stack_rule(rule, [*declared, backend(both[:1])])
    assert len(reported) == 1 and "PGPASSFILE" in reported[0][0] and "mounts no secret" in reported[0][0]
    reported = run_stack_rule(rule, [declared[0], backend(both)])
    assert len(reported) == 1 and "'pgpass-1'" in reported[0][0] and "no docker.Secret" in reported[0][0]
    unknown_name = plan_item(SECRET, "secret-new", {"name": UNKNOWN_STRING_VALUE})
    assert run_stack_rule(rule, [declared[0], unknown_name, backend(both)]) == []  # it may be that one
    assert run_stack_rule(rule, [*declared, backend(UNKNOWN_ARRAY_VALUE)]) == []


def test_secret_include_directory_needs_a_declared_secret_under_it() -> None:
    """PGBACKREST_CONFIG_INCLUDE_PATH names a directory: a mounted secret file under it is what it needs."""
    rule = secrets.service_secret_files_mounted
    declared = [plan_item(SECRET, f"secret-{name}", {"name": name}) for name in ("repo1-1", "key-1")]

    def repository(*mounts: dict[str, Any], path: str = "/run/secrets/pgbackrest") -> dict[str, Any]:
        container = {"env": {"PGBACKREST_CONFIG_INCLUDE_PATH": path}, "secrets": list(mounts)}
        return service_item("backup", "backup", taskSpec={"containerSpec": container})

    include = _secret(fileName="pgbackrest/repo1.conf", secretName="repo1-1")
    key = _secret(fileName="/run/secrets/pgbackrest.key", secretName="key-1")
    assert run_stack_rule(rule, [*declared, repository(include, key)]) == []
    assert run_stack_rule(rule, [*declared, repository(include, path="/run/secrets/pgbackrest/")]) == []
    # A file beside the directory whose name starts like it is not in it.
    reported = run_stack_rule(rule, [*declared, repository(key)])
    (message, _), *others = reported
    assert others == [] and "at /run/secrets/pgbackrest, but mounts no secret there nor under it" in message
    assert run_stack_rule(rule, [*declared, repository()])
    reported = run_stack_rule(rule, [declared[1], repository(include, key)])
    (message, _), *others = reported
    assert others == [] and "'repo1-1' under it" in message and "no docker.Secret" in message
    unknown = plan_item(SECRET, "secret-new", {"name": UNKNOWN_STRING_VALUE})
    assert run_stack_rule(rule, [declared[1], unknown, repository(include, key)]) == []


def test_configs_hold_no_key_material() -> None:
    rule = secrets.configs_hold_no_key_material
    assert run_resource_rule(rule, SERVICE_CONFIG, {"name": "c", "data": encode(PEM_KEY)})
    assert run_resource_rule(rule, SERVICE_CONFIG, {"name": "c", "data": PEM_KEY})  # not even base64
    certificate = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    assert run_resource_rule(rule, SERVICE_CONFIG, {"name": "c", "data": encode(certificate)}) == []
    assert run_resource_rule(rule, SERVICE_CONFIG, {"name": "c", "data": UNKNOWN_STRING_VALUE}) == []


# --- stack -------------------------------------------------------------------------------------------------


def test_every_container_is_reported_on_its_own_urn() -> None:
    containers = [plan_item(CONTAINER, name, {"image": "sha256:" + "a" * 64}) for name in ("one", "two")]
    reported = run_stack_rule(stack.no_standalone_containers, [*containers, service_item("svc", "backend")])
    assert [urn for _, urn in reported] == [item["urn"] for item in containers]


def _mounting(name: str, role: str, *sources: str) -> dict[str, Any]:
    mounts = [{"type": "volume", "source": source, "target": f"/{source}"} for source in sources]
    return service_item(name, role, taskSpec={"containerSpec": {"mounts": mounts}})


def test_backups_need_a_declared_volume_of_their_own() -> None:
    volumes = [
        plan_item(VOLUME, "database-data", {"name": "pap-t-db-data"}),
        plan_item(VOLUME, "backup-volume", {"name": "pap-t-backups"}),
    ]
    database = _mounting("db", "database", "pap-t-db-data")
    rule = stack.database_backed_up
    assert run_stack_rule(rule, [*volumes, database, _mounting("backup", "backup", "pap-t-backups")]) == []
    assert run_stack_rule(rule, [*volumes, database, _mounting("backup", "backup", "undeclared")])
    assert run_stack_rule(rule, [*volumes, database, _mounting("backup", "backup", "pap-t-db-data")])
    assert run_stack_rule(rule, [*volumes, database, _mounting("backup", "backup")])
    assert run_stack_rule(rule, [*volumes, database])
