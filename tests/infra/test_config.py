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
    # pgBackRest: WAL switched every 10 s (dev) / 60 s (prod) while there are writes; a weekly full in both,
    # a differential daily (dev) / every 6 h (prod); prod keeps four weeks of fulls and drills weekly.
    assert (dev.backup.archive_timeout_seconds, prod.backup.archive_timeout_seconds) == (10, 60)
    assert (dev.backup.full_interval_hours, prod.backup.full_interval_hours) == (168, 168)
    assert (dev.backup.diff_interval_hours, prod.backup.diff_interval_hours) == (24, 6)
    assert (dev.backup.retention_full, prod.backup.retention_full) == (2, 4)
    assert (dev.backup.retention_diff, prod.backup.retention_diff) == (7, 28)
    assert (dev.backup.verify_interval_hours, prod.backup.verify_interval_hours) == (24, 24)
    assert (dev.backup.drill_interval_hours, prod.backup.drill_interval_hours) == (0, 168)
    for config in (dev, prod):
        assert config.backup.offsite.type == "posix" and config.backup.offsite.s3 is None
        assert config.backup.offsite.placement == "node.labels.pap.offsite == true"
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


# An S3-compatible bucket as the off-host repository (the key pair is a test value).
S3 = {
    "bucket": "pap-backups",
    "endpoint": "s3.eu-central-1.example.com",
    "region": "eu-central-1",
    "key": "AKIATESTKEY",
    "keySecret": "test-key-secret-9b1e",
}

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
        "the pg_dump schedule's interval is gone",
        {"backup": {"intervalHours": 6}},
        [
            "presentation-analytics:backup.intervalHours",
            "unknown key",
            "allowed keys here: archiveQueueMaxMb, archiveTimeoutSeconds, diffIntervalHours, "
            "drillIntervalHours, fullIntervalHours, limits, offsite, reservations, retentionDiff, "
            "retentionFull, verifyIntervalHours",
        ],
    ),
    (
        "the pg_dump retention is gone",
        {"backup": {"keepCount": 28, "keepDays": 30}},
        [
            "presentation-analytics:backup.keepCount: unknown key",
            "presentation-analytics:backup.keepDays: unknown key",
            "retentionFull",
        ],
    ),
    (
        "differential less often than full",
        {"backup": {"fullIntervalHours": 24, "diffIntervalHours": 48}},
        [
            "stack 'prod': presentation-analytics:backup: ",
            "diffIntervalHours (48) must not exceed fullIntervalHours (24)",
        ],
    ),
    (
        "archive timeout",
        {"backup": {"archiveTimeoutSeconds": 0}},
        ["backup.archiveTimeoutSeconds", "greater than or equal to 1", "(got 0)"],
    ),
    (
        "archive timeout too long",
        {"backup": {"archiveTimeoutSeconds": 7200}},
        ["backup.archiveTimeoutSeconds", "less than or equal to 3600", "(got 7200)"],
    ),
    (
        "archive queue too small",
        {"backup": {"archiveQueueMaxMb": 63}},
        ["presentation-analytics:backup.archiveQueueMaxMb", "greater than or equal to 64", "(got 63)"],
    ),
    (
        "archive queue too large",
        {"backup": {"archiveQueueMaxMb": 1048577}},
        [
            "presentation-analytics:backup.archiveQueueMaxMb",
            "less than or equal to 1048576",
            "(got 1048577)",
        ],
    ),
    (
        "archive queue not a number",
        {"backup": {"archiveQueueMaxMb": "4GB"}},
        ["presentation-analytics:backup.archiveQueueMaxMb", "valid integer", "'4GB'"],
    ),
    (
        "full interval",
        {"backup": {"fullIntervalHours": 0}},
        ["backup.fullIntervalHours", "greater than or equal to 1"],
    ),
    (
        "no full kept",
        {"backup": {"retentionFull": 0}},
        ["backup.retentionFull", "greater than or equal to 1"],
    ),
    (
        "verify interval",
        {"backup": {"verifyIntervalHours": 0}},
        ["backup.verifyIntervalHours", "greater than or equal to 1"],
    ),
    (
        "negative drill interval",
        {"backup": {"drillIntervalHours": -1}},
        ["backup.drillIntervalHours", "(got -1)"],
    ),
    (
        "offsite type",
        {"backup": {"offsite": {"type": "nfs"}}},
        ["presentation-analytics:backup.offsite.type", "'posix' or 's3'", "'nfs'"],
    ),
    (
        "s3 without its settings",
        {"backup": {"offsite": {"type": "s3"}}},
        [
            "stack 'prod': presentation-analytics:backup.offsite: ",
            "type 's3' needs s3.bucket, s3.endpoint, s3.region, s3.key and s3.keySecret",
        ],
    ),
    (
        "s3 settings with posix",
        {"backup": {"offsite": {"s3": S3}}},
        [
            "stack 'prod': presentation-analytics:backup.offsite: ",
            "s3 settings are only read with type 's3' (type is 'posix')",
        ],
    ),
    (
        "s3 without its key secret",
        {"backup": {"offsite": {"type": "s3", "s3": {k: v for k, v in S3.items() if k != "keySecret"}}}},
        ["presentation-analytics:backup.offsite.s3.keySecret", "Field required"],
    ),
    (
        "typo under s3",
        {"backup": {"offsite": {"type": "s3", "s3": {**S3, "secretKey": "x"}}}},
        [
            "presentation-analytics:backup.offsite.s3.secretKey",
            "unknown key",
            "allowed keys here: bucket, endpoint, key, keySecret, region, uriStyle",
        ],
    ),
    (
        "s3 bucket name",
        {"backup": {"offsite": {"type": "s3", "s3": {**S3, "bucket": "Bad_Bucket"}}}},
        ["backup.offsite.s3.bucket", "pattern", "'Bad_Bucket'"],
    ),
    (
        "s3 uri style",
        {"backup": {"offsite": {"type": "s3", "s3": {**S3, "uriStyle": "virtual"}}}},
        ["backup.offsite.s3.uriStyle", "'host' or 'path'", "'virtual'"],
    ),
    (
        "offsite placement",
        {"backup": {"offsite": {"placement": "anywhere"}}},
        ["backup.offsite.placement", "pattern", "'anywhere'"],
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


def test_s3_offsite_repository_must_be_secret() -> None:
    """The access key pair sits in backup.offsite.s3: stored in the clear in the stack file, it would be in
    git. The whole `backup` key must be secret config (Pulumi marks the top-level key secret)."""
    raw = stack_config("prod", {"backup": {"offsite": {"type": "s3", "s3": S3}}})
    with pytest.raises(ConfigError) as raised:
        validate_stack_config("prod", raw, frozenset())
    message = str(raised.value)
    assert "stack 'prod': presentation-analytics:backup.offsite.s3: " in message
    assert "must be set as a secret" in message and "--secret" in message
    assert S3["keySecret"] not in message and S3["key"] not in message  # the message never repeats them
    with pytest.raises(ConfigError, match=r"backup\.offsite\.s3"):
        validate_stack_config("prod", raw, frozenset({"tls"}))  # another key's secrecy does not count
    config = validate_stack_config("prod", raw, frozenset({"backup"}))
    assert config.backup.offsite.type == "s3"
    s3 = config.backup.offsite.s3
    assert s3 is not None
    assert (s3.bucket, s3.endpoint, s3.region, s3.uri_style) == (
        "pap-backups",
        "s3.eu-central-1.example.com",
        "eu-central-1",
        "host",  # the default
    )
    assert (s3.key, s3.key_secret) == ("AKIATESTKEY", "test-key-secret-9b1e")


def test_posix_offsite_needs_no_secret_config() -> None:
    raw = stack_config("prod", {"backup": {"offsite": {"placement": "node.labels.vault != false"}}})
    config = validate_stack_config("prod", raw, frozenset())
    assert config.backup.offsite.type == "posix"
    assert config.backup.offsite.placement == "node.labels.vault != false"


def test_backup_defaults() -> None:
    backup = StackConfig().backup
    assert backup.model_dump(exclude={"limits", "reservations", "offsite"}) == {
        "archive_timeout_seconds": 60,
        "archive_queue_max_mb": 4096,
        "full_interval_hours": 168,
        "diff_interval_hours": 24,
        "retention_full": 2,
        "retention_diff": 7,
        "verify_interval_hours": 24,
        "drill_interval_hours": 0,
    }
    assert backup.offsite.model_dump() == {
        "type": "posix",
        "placement": "node.labels.pap.offsite == true",
        "s3": None,
    }
    # Equal intervals are allowed: every backup a full.
    equal = validate_stack_config(
        "prod",
        stack_config("prod", {"backup": {"fullIntervalHours": 6, "diffIntervalHours": 6}}),
        frozenset(),
    )
    assert (equal.backup.full_interval_hours, equal.backup.diff_interval_hours) == (6, 6)


@pytest.mark.parametrize("queue_mb", [64, 1048576])
def test_archive_queue_bounds_are_inclusive(queue_mb: int) -> None:
    raw = stack_config("prod", {"backup": {"archiveQueueMaxMb": queue_mb}})
    assert validate_stack_config("prod", raw, frozenset()).backup.archive_queue_max_mb == queue_mb


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
