"""Backups with pgBackRest: the database archives its WAL to two repositories (the local one on the data node,
the off-host one on its own node, network and volume, or in an S3 bucket), each repository service backs the
database up on a schedule; TLS with client certificates both ways, each repository encrypted with its own
passphrase, which only that repository's secret include holds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from infra.mocks import is_secret_value
from infra.plan import PlanRun
from tests.infra.helpers import (
    NETWORK,
    RANDOM_PASSWORD,
    SECRET,
    SERVICE_CONFIG,
    VOLUME,
    config_mounts,
    container_spec,
    decoded,
    env,
    inputs,
    labels,
    mounted,
    mounted_contents,
    named,
    networks,
    of_type,
    run_stack,
    secret_mounts,
    services,
    task_spec,
    the_service,
    walk_strings,
)

REPOSITORIES = ("backup", "backup-offsite")  # the roles of the repository services
HOSTS = ("database", *REPOSITORIES)  # pgBackRest's hosts: each the role and the alias of its service
CONFIG = "/run/pap/pgbackrest.conf"
CA = "/run/pap/pgbackrest-ca.crt"
CERT = "/run/pap/pgbackrest.crt"
KEY = "/run/secrets/pgbackrest.key"
INCLUDE_DIR = "/run/secrets/pgbackrest"
INCLUDES = {"backup": f"{INCLUDE_DIR}/repo1.conf", "backup-offsite": f"{INCLUDE_DIR}/repo2.conf"}
DATA_NODE = "node.labels.pap.data == true"
OFFSITE_NODE = "node.labels.pap.offsite == true"
# Retention per stack (Pulumi.<stack>.yaml): full backups kept, differentials kept.
RETENTION = {"dev": ("2", "7"), "prod": ("4", "28")}
S3 = {
    "bucket": "pap-offsite-backups",
    "endpoint": "s3.eu-west-1.example.com",
    "region": "eu-west-1",
    "uriStyle": "path",
    "key": "AKIAOFFSITETESTKEY01",
    "keySecret": "offsite-test-key-secret-4f2a9c7e1b",
}

Sections = dict[str, dict[str, list[str]]]


def parse(text: str) -> Sections:
    """An INI file as pgBackRest reads it: sections of `key=value` lines, a key repeated for a list."""
    sections: Sections = {}
    current: dict[str, list[str]] | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        header = re.fullmatch(r"\[([a-z0-9:_-]+)\]", line)
        if header:
            assert header[1] not in sections, f"section [{header[1]}] twice"
            current = sections[header[1]] = {}
            continue
        assert current is not None, f"{line!r} before any section"
        key, separator, value = line.partition("=")
        assert separator and key == key.strip() and key, f"not key=value: {line!r}"
        current.setdefault(key, []).append(value)
    return sections


def rendered(plan: PlanRun, host: str) -> Sections:
    return parse(mounted(plan, the_service(plan, host), CONFIG))


def _server(console: str) -> dict[str, list[str]]:
    """What every host's [global] has: its TLS server, its log, lock and spool paths (its tmpfs)."""
    return {
        "lock-path": ["/tmp/pgbackrest"],
        "spool-path": ["/tmp/pgbackrest"],
        "log-level-console": [console],
        "log-level-stderr": ["off"],
        "log-level-file": ["off"],
        "compress-type": ["zst"],
        "tls-server-address": ["*"],
        "tls-server-port": ["8432"],
        "tls-server-ca-file": [CA],
        "tls-server-cert-file": [CERT],
        "tls-server-key-file": [KEY],
    }


def _tls_client(prefix: str, host: str) -> dict[str, list[str]]:
    return {
        prefix: [host],
        f"{prefix}-type": ["tls"],
        f"{prefix}-port": ["8432"],
        f"{prefix}-ca-file": [CA],
        f"{prefix}-cert-file": [CERT],
        f"{prefix}-key-file": [KEY],
    }


PG1 = {
    "pg1-path": ["/var/lib/postgresql/data"],
    "pg1-socket-path": ["/run/postgresql"],
    "pg1-port": ["5432"],
    "pg1-user": ["pap"],
}


# ---------------------------------------------------------------- the rendered configuration


def test_database_config(plan: PlanRun) -> None:
    """Both repositories are remote (TLS, the database's client certificate); its own server accepts only
    the two repositories' certificates; it holds no repository and no cipher setting. Archiving is
    asynchronous, with the default ceiling on the queue (4096 MB: backup.archiveQueueMaxMb)."""
    assert rendered(plan, "database") == {
        "global": {
            **_server("warn"),
            **_tls_client("repo1-host", "backup"),
            **_tls_client("repo2-host", "backup-offsite"),
            "archive-async": ["y"],
            "archive-push-queue-max": ["4096MB"],
            "tls-server-auth": ["backup=pap", "backup-offsite=pap"],
        },
        "pap": PG1,
    }


def test_configured_archive_queue_ceiling_reaches_the_database(stack_outputs_dir: Path) -> None:
    run = run_stack("dev", stack_outputs_dir, {"backup": {"archiveQueueMaxMb": 512}})
    options = rendered(run, "database")["global"]
    assert (options["archive-async"], options["archive-push-queue-max"]) == (["y"], ["512MB"])
    # Archiving is the database's own business: no repository host sets either option.
    for role in REPOSITORIES:
        assert not {"archive-async", "archive-push-queue-max"} & set(rendered(run, role)["global"]), role


@pytest.mark.parametrize(("role", "index"), [("backup", 1), ("backup-offsite", 2)])
def test_repository_config(plan: PlanRun, role: str, index: int) -> None:
    """Each repository host holds its own repository only (on its volume, encrypted), reaches the database
    as a TLS client and accepts only the database's certificate."""
    full, diff = RETENTION[plan.stack]
    repo = f"repo{index}"
    assert rendered(plan, role) == {
        "global": {
            **_server("info"),
            f"{repo}-path": ["/var/lib/pgbackrest"],
            f"{repo}-cipher-type": ["aes-256-cbc"],
            f"{repo}-retention-full": [full],
            f"{repo}-retention-diff": [diff],
            f"{repo}-bundle": ["y"],
            "start-fast": ["y"],
            "tls-server-auth": ["database=pap"],
        },
        "pap": {**_tls_client("pg1-host", "database"), **PG1},
    }


def test_repository_indexes_are_the_same_on_every_host(plan: PlanRun) -> None:
    """`--repo=2` means the off-host repository wherever a command runs: the database's repoN-host is the
    host whose own file configures repoN, and whose schedule says PAP_REPO=N."""
    database = rendered(plan, "database")["global"]
    for role, index in (("backup", "1"), ("backup-offsite", "2")):
        assert database[f"repo{index}-host"] == [role]
        options = rendered(plan, role)["global"]
        assert {key.split("-", 1)[0] for key in options if key.startswith("repo")} == {f"repo{index}"}, role
        assert env(the_service(plan, role))["PAP_REPO"] == index, role


def _common_name(pem: str) -> str:
    certificate = x509.load_pem_x509_certificate(pem.encode())
    (attribute,) = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attribute.value)


def test_tls_server_auth_admits_exactly_the_peers_certificates(plan: PlanRun) -> None:
    """tls-server-auth names client certificates by CN: the database admits the two repositories, each
    repository the database, nobody else (a repository cannot drive the other one)."""
    names = {host: _common_name(mounted(plan, the_service(plan, host), CERT)) for host in HOSTS}
    assert names == {"database": "database", "backup": "backup", "backup-offsite": "backup-offsite"}
    peers = {"database": {"backup", "backup-offsite"}, "backup": {"database"}, "backup-offsite": {"database"}}
    for host in HOSTS:
        admitted = rendered(plan, host)["global"]["tls-server-auth"]
        assert {entry.split("=", 1)[0] for entry in admitted} == peers[host], host
        assert {entry.split("=", 1)[1] for entry in admitted} == {"pap"}, host  # the stanza, not `*`


def test_every_file_a_config_names_is_mounted(plan: PlanRun) -> None:
    """The CA, certificate and key pgBackRest is told to use are there, as configs (0444) or the key as a
    secret (0400, the task's UID); the include directory holds only secrets."""
    for host in HOSTS:
        service = the_service(plan, host)
        sections = rendered(plan, host)
        paths = {
            value
            for options in sections.values()
            for key, values in options.items()
            if key.endswith("-file") and not key.startswith("log-level-")
            for value in values
        }
        assert paths == {CA, CERT, KEY}, host
        assert set(config_mounts(service)) >= {CONFIG, CA, CERT}, host
        assert KEY in secret_mounts(service), host
        assert not [path for path in config_mounts(service) if path.startswith(f"{INCLUDE_DIR}/")], host


# ---------------------------------------------------------------- passphrases


def _passphrase(plan: PlanRun, role: str) -> str:
    include = mounted(plan, the_service(plan, role), INCLUDES[role])
    index = INCLUDES[role][-6]
    match = re.fullmatch(rf"\[global\]\nrepo{index}-cipher-pass=([A-Za-z0-9]{{48}})\n", include)
    assert match, include  # the include holds the passphrase and nothing else
    return match[1]


def test_each_repository_has_its_own_passphrase_in_its_secret_include_only(plan: PlanRun) -> None:
    passphrases = {role: _passphrase(plan, role) for role in REPOSITORIES}
    assert passphrases["backup"] != passphrases["backup-offsite"]
    cipher = {p.name: inputs(p) for p in of_type(plan, RANDOM_PASSWORD) if p.name.endswith("-cipher-pass")}
    assert set(cipher) == {"archive-repo1-cipher-pass", "archive-repo2-cipher-pass"}
    assert all((values["length"], values["special"]) == (48, False) for values in cipher.values())
    for role, passphrase in passphrases.items():
        service = the_service(plan, role)
        assert env(service)["PGBACKREST_CONFIG_INCLUDE_PATH"] == INCLUDE_DIR
        mount = secret_mounts(service)[INCLUDES[role]]
        assert (mount["fileMode"], mount["fileUid"], mount["fileGid"]) == (0o400, "10040", "0"), role
        includes = [path for path in secret_mounts(service) if path.startswith(f"{INCLUDE_DIR}/")]
        assert includes == [INCLUDES[role]], role  # not the other repository's
        # Which Swarm objects hold it: its include, nothing else (no config, no other secret).
        holders = [
            resource.name
            for resource in [*of_type(plan, SECRET), *of_type(plan, SERVICE_CONFIG)]
            if passphrase in decoded(resource)
        ]
        assert holders == [f"pap-{plan.stack}-pgbackrest-repo{INCLUDES[role][-6]}"], role
        # Which services mount it: its repository only (not the database, not the other repository).
        mounting = [
            s.name for s in services(plan) if passphrase in "".join(mounted_contents(plan, s).values())
        ]
        assert mounting == [f"pap-{plan.stack}-{role}"], role
        for other in services(plan):
            assert not [text for text in walk_strings(inputs(other)) if passphrase in text], other.name
    database = the_service(plan, "database")
    assert "PGBACKREST_CONFIG_INCLUDE_PATH" not in env(database)
    assert not [text for text in mounted_contents(plan, database).values() if "cipher-pass" in text]


# ---------------------------------------------------------------- S3 as the off-host repository


@pytest.fixture(scope="module")
def with_s3(stack_outputs_dir: Path) -> PlanRun:
    overrides = {"backup": {"offsite": {"type": "s3", "s3": S3}}}
    return run_stack("dev", stack_outputs_dir, overrides, secret_keys=("backup",))


def test_s3_options_in_the_offsite_config_and_its_keys_in_the_include_only(with_s3: PlanRun) -> None:
    options = rendered(with_s3, "backup-offsite")["global"]
    repo2 = {key: values for key, values in options.items() if key.startswith("repo2-")}
    assert repo2 == {
        "repo2-type": ["s3"],
        "repo2-path": ["/pap"],
        "repo2-s3-bucket": ["pap-offsite-backups"],
        "repo2-s3-endpoint": ["s3.eu-west-1.example.com"],
        "repo2-s3-region": ["eu-west-1"],
        "repo2-s3-uri-style": ["path"],
        "repo2-cipher-type": ["aes-256-cbc"],  # encrypted before it leaves: the bucket's owner cannot read it
        "repo2-retention-full": ["2"],
        "repo2-retention-diff": ["7"],
        "repo2-bundle": ["y"],
    }
    include = parse(mounted(with_s3, the_service(with_s3, "backup-offsite"), INCLUDES["backup-offsite"]))
    assert set(include) == {"global"}
    assert include["global"]["repo2-s3-key"] == ["AKIAOFFSITETESTKEY01"]
    assert include["global"]["repo2-s3-key-secret"] == ["offsite-test-key-secret-4f2a9c7e1b"]
    assert re.fullmatch(r"[A-Za-z0-9]{48}", include["global"]["repo2-cipher-pass"][0])
    assert set(include["global"]) == {"repo2-cipher-pass", "repo2-s3-key", "repo2-s3-key-secret"}
    # The local repository stays on its volume.
    assert rendered(with_s3, "backup")["global"]["repo1-path"] == ["/var/lib/pgbackrest"]
    assert "repo1-type" not in rendered(with_s3, "backup")["global"]


def test_s3_keys_are_in_no_config_env_or_plain_input(with_s3: PlanRun) -> None:
    key, secret = S3["key"], S3["keySecret"]
    holders = [
        resource.name
        for resource in [*of_type(with_s3, SECRET), *of_type(with_s3, SERVICE_CONFIG)]
        if key in decoded(resource) or secret in decoded(resource)
    ]
    assert holders == ["pap-dev-pgbackrest-repo2"]
    for service in services(with_s3):
        assert not [t for t in walk_strings(inputs(service)) if key in t or secret in t], service.name
    mounting = [
        s.name
        for s in services(with_s3)
        if any(secret in content for content in mounted_contents(with_s3, s).values())
    ]
    assert mounting == ["pap-dev-backup-offsite"]
    mount = secret_mounts(the_service(with_s3, "backup-offsite"))[INCLUDES["backup-offsite"]]
    assert is_secret_value(named(with_s3, mount["secretName"]).inputs["data"])  # encrypted in the state


def test_s3_mode_gives_the_offsite_repository_alone_a_way_out(with_s3: PlanRun) -> None:
    """pgBackRest must reach the bucket's endpoint: the off-host repository also joins `pap-dev-egress`, a
    non-internal overlay of its own; nothing else joins it, and the offsite network stays internal."""
    declared = {inputs(n)["name"]: inputs(n) for n in of_type(with_s3, NETWORK)}
    assert {name: values["internal"] for name, values in declared.items()} == {
        "pap-dev-edge": False,
        "pap-dev-app": True,
        "pap-dev-data": True,
        "pap-dev-offsite": True,
        "pap-dev-egress": False,
    }
    egress = declared["pap-dev-egress"]
    assert (egress["driver"], egress["attachable"]) == ("overlay", False)
    assert networks(the_service(with_s3, "backup-offsite")) == {
        "pap-dev-offsite": ["backup-offsite"],
        "pap-dev-egress": [],
    }
    joined = [inputs(s)["name"] for s in services(with_s3) if "pap-dev-egress" in networks(s)]
    assert joined == ["pap-dev-backup-offsite"]
    # The local repository and the database keep their networks.
    assert networks(the_service(with_s3, "backup")) == {"pap-dev-data": ["backup"]}
    assert set(networks(the_service(with_s3, "database"))) == {"pap-dev-data", "pap-dev-offsite"}
    assert with_s3.outputs["offsiteNetwork"] == "pap-dev-offsite"


def test_posix_mode_declares_no_egress_network(plan: PlanRun) -> None:
    names = {inputs(n)["name"] for n in of_type(plan, NETWORK)}
    assert f"pap-{plan.stack}-egress" not in names
    assert not [n for n in of_type(plan, NETWORK) if n.name == "networks-egress"]
    assert networks(the_service(plan, "backup-offsite")) == {f"pap-{plan.stack}-offsite": ["backup-offsite"]}


# ---------------------------------------------------------------- the database's archiving


def _settings(arguments: list[str]) -> dict[str, str]:
    assert arguments[::2] == ["-c"] * (len(arguments) // 2) and len(arguments) % 2 == 0, arguments
    return dict(item.split("=", 1) for item in arguments[1::2])


@pytest.mark.parametrize(("stack", "timeout"), [("dev", "10s"), ("prod", "60s")])
def test_database_archives_every_wal_segment_through_pgbackrest(
    stack: str, timeout: str, request: pytest.FixtureRequest
) -> None:
    plan: PlanRun = request.getfixturevalue(stack)
    settings = _settings(container_spec(the_service(plan, "database"))["args"])
    assert {
        key: settings[key] for key in ("wal_level", "archive_mode", "archive_command", "archive_timeout")
    } == {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": "pgbackrest --stanza=pap archive-push %p",
        "archive_timeout": timeout,  # the RPO's bound while there are writes
    }
    assert env(the_service(plan, "database"))["PGBACKREST_CONFIG"] == CONFIG


def test_configured_archive_timeout_reaches_the_database(stack_outputs_dir: Path) -> None:
    run = run_stack("dev", stack_outputs_dir, {"backup": {"archiveTimeoutSeconds": 5}})
    assert _settings(container_spec(the_service(run, "database"))["args"])["archive_timeout"] == "5s"


# ---------------------------------------------------------------- the repository services


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        (
            "dev",
            {
                "backup": {
                    "PAP_REPO": "1",
                    "PAP_DIFF_INTERVAL_SECONDS": "86400",
                    "PAP_DRILL_INTERVAL_SECONDS": "0",
                },
                "backup-offsite": {
                    "PAP_REPO": "2",
                    "PAP_DIFF_INTERVAL_SECONDS": "86400",
                    "PAP_DRILL_INTERVAL_SECONDS": "0",
                },
            },
        ),
        (
            "prod",
            {
                # The drill restores into scratch space on the local repository's host only.
                "backup": {
                    "PAP_REPO": "1",
                    "PAP_DIFF_INTERVAL_SECONDS": "21600",
                    "PAP_DRILL_INTERVAL_SECONDS": "604800",
                },
                "backup-offsite": {
                    "PAP_REPO": "2",
                    "PAP_DIFF_INTERVAL_SECONDS": "21600",
                    "PAP_DRILL_INTERVAL_SECONDS": "0",
                },
            },
        ),
    ],
)
def test_schedule_per_stack(
    stack: str, expected: dict[str, dict[str, str]], request: pytest.FixtureRequest
) -> None:
    plan: PlanRun = request.getfixturevalue(stack)
    for role in REPOSITORIES:
        assert env(the_service(plan, role)) == {
            "PGBACKREST_CONFIG": CONFIG,
            "PGBACKREST_CONFIG_INCLUDE_PATH": INCLUDE_DIR,
            "PGBACKREST_STANZA": "pap",
            "POSTGRES_DB": "pap",
            "PAP_FULL_INTERVAL_SECONDS": "604800",
            "PAP_VERIFY_INTERVAL_SECONDS": "86400",
            **expected[role],
        }, role


def test_configured_schedule_and_retention_reach_the_repositories(stack_outputs_dir: Path) -> None:
    overrides = {
        "backup": {
            "fullIntervalHours": 72,
            "diffIntervalHours": 8,
            "verifyIntervalHours": 12,
            "drillIntervalHours": 48,
            "retentionFull": 5,
            "retentionDiff": 9,
        }
    }
    run = run_stack("dev", stack_outputs_dir, overrides)
    for role, index, drill in (("backup", "1", "172800"), ("backup-offsite", "2", "0")):
        settings = env(the_service(run, role))
        schedule = {key: value for key, value in settings.items() if key.endswith("_INTERVAL_SECONDS")}
        assert schedule == {
            "PAP_FULL_INTERVAL_SECONDS": "259200",
            "PAP_DIFF_INTERVAL_SECONDS": "28800",
            "PAP_VERIFY_INTERVAL_SECONDS": "43200",
            "PAP_DRILL_INTERVAL_SECONDS": drill,
        }, role
        options = rendered(run, role)["global"]
        assert (options[f"repo{index}-retention-full"], options[f"repo{index}-retention-diff"]) == (
            ["5"],
            ["9"],
        )


def test_repositories_run_the_database_image_as_their_own_user(plan: PlanRun) -> None:
    database = container_spec(the_service(plan, "database"))
    assert database["image"] == plan.outputs["databaseImage"]
    for role in REPOSITORIES:
        spec = container_spec(the_service(plan, role))
        assert spec["image"] == plan.outputs["databaseImage"], role  # one pgBackRest and PostgreSQL version
        assert spec["args"] == ["pap-repository", "run"], role
        assert spec["user"] == "10040:0" != database["user"], role  # neither touches the other's files
        assert labels(the_service(plan, role))["pap.role"] == role


def test_repository_networks(plan: PlanRun) -> None:
    """The local repository on the data network only; the off-host one on the offsite network only, never
    the data network (it must outlive the data network and node). The database joins both; nothing of the
    application joins the offsite network (on the data network, the local repository's server admits the
    database's certificate only)."""
    data, offsite = f"pap-{plan.stack}-data", f"pap-{plan.stack}-offsite"
    assert networks(the_service(plan, "backup")) == {data: ["backup"]}
    assert networks(the_service(plan, "backup-offsite")) == {offsite: ["backup-offsite"]}
    assert set(networks(the_service(plan, "database"))) == {data, offsite}
    assert offsite not in networks(the_service(plan, "backend"))
    assert offsite not in networks(the_service(plan, "migrate"))


def test_repository_placement(plan: PlanRun) -> None:
    def constraints(role: str) -> list[str]:
        return list(task_spec(the_service(plan, role))["placement"]["constraints"])

    assert constraints("backup") == [DATA_NODE] == constraints("database")
    assert constraints("backup-offsite") == [OFFSITE_NODE]


def test_configured_offsite_placement_reaches_the_offsite_repository(stack_outputs_dir: Path) -> None:
    run = run_stack(
        "dev", stack_outputs_dir, {"backup": {"offsite": {"placement": "node.hostname == vault"}}}
    )
    assert task_spec(the_service(run, "backup-offsite"))["placement"] == {
        "constraints": ["node.hostname == vault"]
    }
    assert task_spec(the_service(run, "backup"))["placement"] == {"constraints": [DATA_NODE]}


def _volumes(service: Any) -> dict[str, dict[str, Any]]:
    return {m["target"]: m for m in container_spec(service)["mounts"] if m["type"] == "volume"}


def test_repository_volumes_are_distinct(plan: PlanRun) -> None:
    stack = plan.stack
    local, offsite = _volumes(the_service(plan, "backup")), _volumes(the_service(plan, "backup-offsite"))
    assert {target: m["source"] for target, m in local.items()} == {
        "/var/lib/pgbackrest": f"pap-{stack}-backups"
    }
    assert {target: m["source"] for target, m in offsite.items()} == {
        "/var/lib/pgbackrest": f"pap-{stack}-backups-offsite"
    }
    assert (
        local["/var/lib/pgbackrest"]["readOnly"] is False
        and offsite["/var/lib/pgbackrest"]["readOnly"] is False
    )
    declared = {inputs(v)["name"]: v for v in of_type(plan, VOLUME)}
    assert {f"pap-{stack}-backups", f"pap-{stack}-backups-offsite"} <= set(declared)
    # Nobody else mounts a repository's volume, and no repository mounts the database's.
    for service in services(plan):
        sources = {m["source"] for m in _volumes(service).values()}
        role = labels(service)["pap.role"]
        if role not in REPOSITORIES:
            assert not sources & {f"pap-{stack}-backups", f"pap-{stack}-backups-offsite"}, service.name
    for role in REPOSITORIES:
        assert f"pap-{stack}-db-data" not in {m["source"] for m in _volumes(the_service(plan, role)).values()}
    assert plan.outputs["backupVolume"] == f"pap-{stack}-backups"
    assert plan.outputs["offsiteBackupVolume"] == f"pap-{stack}-backups-offsite"
    assert (
        plan.outputs["backupService"] == f"pap-{stack}-backup" == inputs(the_service(plan, "backup"))["name"]
    )
    assert (
        plan.outputs["offsiteBackupService"]
        == f"pap-{stack}-backup-offsite"
        == inputs(the_service(plan, "backup-offsite"))["name"]
    )
    assert plan.outputs["offsiteNetwork"] == f"pap-{stack}-offsite"
    assert "backupNetwork" not in plan.outputs


def test_repositories_wait_for_the_database_and_roll_stop_first(plan: PlanRun) -> None:
    database = the_service(plan, "database")
    for role in REPOSITORIES:
        service = the_service(plan, role)
        assert database.urn in service.dependencies, role
        assert inputs(service)["updateConfig"]["order"] == "stop-first", role  # one writer per repository
        tmpfs = {m["target"] for m in container_spec(service)["mounts"] if m["type"] == "tmpfs"}
        assert tmpfs == {"/tmp"}, role  # the lock and spool paths
