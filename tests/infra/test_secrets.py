"""Secrets: random, secret in state, only ever in files (0440) or secret values, never in a plain input."""

from __future__ import annotations

from collections.abc import Iterator

import pulumi
import pytest
from pulumi.runtime import settings

from infra.credentials import Secrets
from infra.mocks import RealisticMocks, is_secret_value, plain
from infra.plan import PlanRun, RecordedResource
from tests.infra.helpers import (
    CONTAINER,
    RANDOM_PASSWORD,
    envs,
    inputs,
    named,
    of_type,
    seed_of,
    services,
    uploads,
)


@pytest.fixture
def mocked() -> Iterator[None]:
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(RealisticMocks(), project="presentation-analytics", stack="unit", preview=False)
    yield


@pulumi.runtime.test
def _secrets_are_secret_outputs() -> pulumi.Output[list[bool]]:
    component = Secrets("secrets", with_admin=True)
    values = [
        component.database_password,
        component.database_app_password,
        component.redis_password,
        component.jwt_key,
        component.metrics_token,
        component.admin_password,
    ]
    return pulumi.Output.all(*(value.is_secret() for value in values if value is not None)).apply(_all_true)


def _all_true(flags: list[bool]) -> list[bool]:
    assert flags == [True] * 6
    return flags


def test_secret_outputs_are_secret(mocked: None) -> None:
    _secrets_are_secret_outputs()


def _generated(plan: PlanRun) -> set[str]:
    """The values the mocks generated for the RandomPasswords, found where the containers receive them."""
    found: set[str] = set()
    for container in of_type(plan, CONTAINER):
        for upload in uploads(container).values():
            if (
                upload["file"].startswith("/run/pap/secrets/")
                and upload["file"].rsplit("/", 1)[-1] != "tls_key"
            ):
                content = upload["content"]
                found.add(content.rsplit(":", 1)[-1].strip() if content.count(":") == 4 else content)
    return found


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
    assert len(passwords) >= 4
    for password in passwords:
        values = inputs(password)
        assert values["length"] >= 24 and values["special"] is False


def test_no_secret_value_in_any_plain_input(plan: PlanRun) -> None:
    secrets = _generated(plan)
    assert len(secrets) >= 5  # database owner and app role, redis, JWT key, metrics token
    assert all(len(secret) >= 24 for secret in secrets)
    for resource in plan.resources:
        for text in _plain_strings(resource):
            leaked = [secret for secret in secrets if secret in text]
            assert not leaked, f"{resource.name}: a secret value in a plain input"


def test_secret_files_are_0440_secret_uploads(plan: PlanRun) -> None:
    for container in services(plan):
        seed = seed_of(plan, container)
        assert is_secret_value(seed.inputs["uploads"]) or all(
            is_secret_value(upload["content"])
            for upload in seed.inputs["uploads"]
            if upload["file"].startswith("/run/pap/secrets/")
        )
        for path, upload in uploads(seed).items():
            expected = (
                "0440" if path.startswith("/run/pap/secrets/") or path.endswith("redis.conf") else "0444"
            )
            assert upload["permissions"] == expected, path
        assert not inputs(container).get("uploads")


@pytest.mark.parametrize(
    ("container", "path"),
    [("db", "/run/pap/secrets/db_app_password"), ("backend-1", "/run/pap/secrets/database_app_password")],
)
def test_database_app_password_is_a_secret_0440_file(plan: PlanRun, container: str, path: str) -> None:
    seed = named(plan, f"pap-{plan.stack}-{container}-seed")
    recorded = seed.inputs["uploads"]  # the whole list is one secret when any item's content is
    items = recorded["value"] if is_secret_value(recorded) else recorded
    (upload,) = [item for item in items if plain(item)["file"] == path]
    assert is_secret_value(recorded) or is_secret_value(upload["content"])
    assert plain(upload)["permissions"] == "0440" and len(plain(upload)["content"]) == 32


def test_envs_name_files_not_values(plan: PlanRun) -> None:
    for container in services(plan):
        for key, value in envs(container).items():
            if any(word in key for word in ("PASSWORD", "SECRET", "TOKEN", "KEY")) or key == "PGPASSFILE":
                assert key.endswith("_FILE") or key == "PGPASSFILE", key
                assert value.startswith("/run/pap/secrets/"), key
