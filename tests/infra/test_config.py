"""The stack config model: both stack files validate; bad configs name the key, the stack, what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import PROJECT, ConfigError, StackConfig, validate_stack_config
from tests.infra.helpers import stack_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_stack_files_validate(stack: str) -> None:
    config = validate_stack_config(stack, stack_config(stack), frozenset())
    assert isinstance(config, StackConfig)


def test_stack_files_differ_where_the_issue_says() -> None:
    dev = validate_stack_config("dev", stack_config("dev"), frozenset())
    prod = validate_stack_config("prod", stack_config("prod"), frozenset())
    assert (dev.backend.replicas, prod.backend.replicas) == (1, 3)
    assert (dev.web.replicas, prod.web.replicas) == (1, 2)
    assert (dev.backup.interval_hours, prod.backup.interval_hours) == (24, 6)
    assert str(dev.proxy.bind_address) == "127.0.0.1"
    assert dev.builds_app_images and not prod.builds_app_images
    # Side by side on one engine: no shared published port.
    assert {dev.proxy.https_port, dev.proxy.http_port}.isdisjoint(
        {prod.proxy.https_port, prod.proxy.http_port}
    )


def test_defaults_match_the_issue() -> None:
    config = StackConfig()
    assert config.base_image == "debian:bookworm-slim"
    assert config.tls.algorithm == "ECDSA-P256"
    assert (config.tls.validity_days, config.tls.early_renewal_days) == (90, 30)
    assert config.tls.profile == "intermediate"


BAD_CONFIGS: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "unknown top-level key",
        {"replicas": "3"},
        ["presentation-analytics:replicas", "unknown key", "backend"],
    ),
    (
        "typo in a nested key",
        {"backend": {"replicaz": 2}},
        ["presentation-analytics:backend.replicaz", "unknown key", "replicas", "workers"],
    ),
    ("wrong type", {"backend": {"replicas": "three"}}, ["backend.replicas", "valid integer", "'three'"]),
    ("out of range", {"backend": {"replicas": 50}}, ["backend.replicas", "less than or equal to 10", "50"]),
    ("zero replicas", {"backend": {"replicas": 0}}, ["backend.replicas", "greater than or equal to 1"]),
    ("tls profile", {"tls": {"profile": "old"}}, ["tls.profile", "'intermediate' or 'modern'", "'old'"]),
    ("tls algorithm", {"tls": {"algorithm": "DSA"}}, ["tls.algorithm", "'ECDSA-P256'", "'RSA-2048'"]),
    (
        "certificate too long",
        {"tls": {"validityDays": 400}},
        ["tls.validityDays", "less than or equal to 366"],
    ),
    (
        "renewal after expiry",
        {"tls": {"validityDays": 30, "earlyRenewalDays": 30}},
        ["earlyRenewalDays (30)"],
    ),
    (
        "modern needs ECDSA",
        {"tls": {"profile": "modern", "algorithm": "RSA-2048"}},
        ["presentation-analytics:tls", "modern", "ECDSA"],
    ),
    ("bind address", {"proxy": {"bindAddress": "localhost"}}, ["proxy.bindAddress", "IPv4"]),
    ("port range", {"proxy": {"httpsPort": 70000}}, ["proxy.httpsPort", "65535"]),
    ("same ports", {"proxy": {"httpsPort": 8080, "httpPort": 8080}}, ["httpsPort and httpPort must differ"]),
    ("server name", {"proxy": {"serverNames": ["Bad_Name"]}}, ["proxy.serverNames.0", "pattern"]),
    (
        "app role is the owner",
        {"database": {"appUser": "pap"}},
        ["presentation-analytics:database", "appUser must differ from user"],
    ),
    ("persistence", {"cache": {"persistence": "always"}}, ["cache.persistence", "'none', 'rdb' or 'aof'"]),
    (
        "memory limit",
        {"database": {"limits": {"memoryMb": 0, "cpus": 1}}},
        ["database.limits.memoryMb", "32"],
    ),
    (
        "backup interval",
        {"backup": {"intervalHours": 0}},
        ["backup.intervalHours", "greater than or equal to 1"],
    ),
    ("pinned image", {"promotion": {"pinnedImage": "pap:latest"}}, ["promotion.pinnedImage", "sha256"]),
    (
        "pinned web image",
        {"promotion": {"pinnedWebImage": "pap-web:1"}},
        ["promotion.pinnedWebImage", "sha256"],
    ),
    ("web replicas", {"web": {"replicas": 11}}, ["web.replicas", "less than or equal to 10", "11"]),
    ("no web replica", {"web": {"replicas": 0}}, ["web.replicas", "greater than or equal to 1", "0"]),
    (
        "typo under web",
        {"web": {"replica": 2}},
        [
            "presentation-analytics:web.replica",
            "unknown key",
            "allowed keys here: limits, replicas, reservations",
        ],
    ),
    ("web memory", {"web": {"limits": {"memoryMb": 16, "cpus": 0.5}}}, ["web.limits.memoryMb", "32", "16"]),
    ("web cpus", {"web": {"limits": {"memoryMb": 256, "cpus": 0}}}, ["web.limits.cpus", "greater than 0"]),
    (
        "web reservation above its limit",
        {"web": {"reservations": {"memoryMb": 512, "cpus": 0.1}}},
        [
            "presentation-analytics:web",
            "reservations (512 MB, 0.1 CPUs) must not exceed limits (384 MB, 1 CPUs)",
        ],
    ),
    ("environment", {"backend": {"environment": "staging"}}, ["backend.environment", "'development'"]),
    (
        "reservation above the memory limit",
        {"backend": {"reservations": {"memoryMb": 1024, "cpus": 0.5}}},
        [
            "presentation-analytics:backend",
            "reservations (1024 MB, 0.5 CPUs) must not exceed limits (768 MB, 1 CPUs)",
        ],
    ),
    (
        "reservation above the CPU limit",
        {"cache": {"reservations": {"memoryMb": 64, "cpus": 2}}},
        [
            "presentation-analytics:cache",
            "reservations (64 MB, 2 CPUs) must not exceed limits (256 MB, 0.5 CPUs)",
        ],
    ),
    (
        "reservation above a lowered limit",
        {"database": {"limits": {"memoryMb": 256, "cpus": 1}, "reservations": {"memoryMb": 512, "cpus": 1}}},
        ["presentation-analytics:database", "must not exceed limits (256 MB, 1 CPUs)"],
    ),
    (
        "reservation without cpus",
        {"backend": {"reservations": {"memoryMb": 64}}},
        ["presentation-analytics:backend.reservations.cpus", "Field required"],
    ),
    (
        "negative reservation",
        {"proxy": {"reservations": {"memoryMb": -1, "cpus": 0.1}}},
        ["proxy.reservations.memoryMb", "greater than or equal to 0", "-1"],
    ),
    (
        "typo in a reservation",
        {"proxy": {"reservations": {"memoryMb": 16, "cpus": 0.1, "gpus": 1}}},
        [
            "presentation-analytics:proxy.reservations.gpus",
            "unknown key",
            "allowed keys here: cpus, memoryMb",
        ],
    ),
    (
        "typo under network",
        {"network": {"encrypt": True}},
        ["presentation-analytics:network.encrypt", "unknown key", "allowed keys here: encrypted"],
    ),
    (
        "network encryption",
        {"network": {"encrypted": "maybe"}},
        ["network.encrypted", "valid boolean", "'maybe'"],
    ),
    (
        "the owner's password is not rotated by config",
        {"rotation": {"databasePassword": 1}},
        [
            "presentation-analytics:rotation.databasePassword",
            "unknown key",
            "allowed keys here: databaseAppPassword, jwtKey, metricsToken, redisPassword",
        ],
    ),
    (
        "negative rotation",
        {"rotation": {"jwtKey": -1}},
        ["presentation-analytics:rotation.jwtKey", "greater than or equal to 0", "(got -1)"],
    ),
    (
        "rotation not a number",
        {"rotation": {"redisPassword": "one"}},
        ["rotation.redisPassword", "valid integer", "'one'"],
    ),
]


@pytest.mark.parametrize(
    ("case", "override", "fragments"), BAD_CONFIGS, ids=[case[0] for case in BAD_CONFIGS]
)
def test_bad_config_message(case: str, override: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as raised:
        validate_stack_config("prod", stack_config("prod", override), frozenset())
    message = str(raised.value)
    assert "stack 'prod'" in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from:\n{message}"


def test_unknown_top_level_key_lists_the_new_sections() -> None:
    with pytest.raises(ConfigError) as raised:
        validate_stack_config("dev", stack_config("dev", {"swarm": {}}), frozenset())
    allowed = str(raised.value).split("allowed keys here: ", 1)[1].split(", ")
    assert {"network", "rotation", "backend", "proxy"} <= set(allowed)


def test_reservations_default_to_a_share_of_the_limits() -> None:
    config = validate_stack_config("prod", stack_config("prod"), frozenset())
    for section in (config.backend, config.web, config.database, config.cache, config.proxy, config.backup):
        assert section.reservations is None
        assert 0 < section.reserved.memory_mb < section.limits.memory_mb
        assert 0 < section.reserved.cpus < section.limits.cpus
    explicit = validate_stack_config(
        "prod", stack_config("prod", {"backend": {"reservations": {"memoryMb": 768, "cpus": 1}}}), frozenset()
    )
    # Up to the limit is allowed: a task that must never share its node.
    assert (explicit.backend.reserved.memory_mb, explicit.backend.reserved.cpus) == (768, 1)


def test_network_and_rotation_defaults() -> None:
    config = StackConfig()
    assert config.network.encrypted is True
    assert config.rotation.model_dump() == {
        "database_app_password": 0,
        "redis_password": 0,
        "jwt_key": 0,
        "metrics_token": 0,
    }
    rotated = validate_stack_config("dev", {"rotation": '{"jwtKey": "2"}'}, frozenset())
    assert rotated.rotation.jwt_key == 2


def test_provided_certificate_must_be_secret() -> None:
    provided = {
        "certificatePem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "privateKeyPem": "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
    }
    raw = stack_config("prod", {"tls": {"providedCertificate": provided}})
    with pytest.raises(ConfigError, match=r"tls\.providedCertificate: holds a private key.*--secret"):
        validate_stack_config("prod", raw, frozenset())
    assert validate_stack_config("prod", raw, frozenset({"tls"})).tls.provided_certificate is not None


def test_cli_string_values_are_coerced() -> None:
    # The CLI hands scalars over as strings and objects as JSON text.
    config = validate_stack_config(
        "dev", {"backend": '{"replicas": "2"}', "baseImage": "debian:bookworm-slim"}, frozenset()
    )
    assert config.backend.replicas == 2


def test_project_file_points_at_the_program() -> None:
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert project["name"] == PROJECT
    assert project["main"] == "infra/"
    assert (REPO / project["main"] / "__main__.py").is_file()
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    declared = set(project.get("config", {}))
    fields = {field.alias for field in StackConfig.model_fields.values()}
    assert declared and declared <= fields
    for key, declaration in project["config"].items():
        # A declared key without a default would be required of every stack by the CLI.
        assert "default" in declaration, key
