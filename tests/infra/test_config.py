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
    assert (dev.backup.interval_hours, prod.backup.interval_hours) == (24, 6)
    assert str(dev.proxy.bind_address) == "127.0.0.1"
    assert dev.builds_service_image and not prod.builds_service_image
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
    ("environment", {"backend": {"environment": "staging"}}, ["backend.environment", "'development'"]),
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
