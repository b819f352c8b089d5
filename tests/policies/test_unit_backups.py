"""Backup rules called directly (no analyzer): WAL archiving, the off-host repository and encrypted
repositories, on small pgBackRest stacks built here, for the edge cases the recorded program does not have."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE

from policies.rules import backups, service_network
from policies.rules._props import NETWORK, SERVICE, SERVICE_CONFIG, VOLUME
from tests.policies.support import encode, plan_item, run_resource_rule, run_stack_rule, service_item

CONFIG_PATH = "/run/pap/pgbackrest.conf"
ARCHIVING = [
    "-c",
    "wal_level=replica",
    "-c",
    "archive_mode=on",
    "-c",
    "archive_command=pgbackrest --stanza=pap archive-push %p",
    "-c",
    "archive_timeout=60s",
]
DATABASE_CONFIG = """\
[global]
repo1-host=backup
repo1-host-type=tls
repo2-host=backup-offsite
repo2-host-type=tls

[pap]
pg1-path=/var/lib/postgresql/data
"""
LOCAL_CONFIG = (
    "[global]\nrepo1-path=/var/lib/pgbackrest\nrepo1-cipher-type=aes-256-cbc\n\n[pap]\npg1-host=database\n"
)
OFFSITE_CONFIG = LOCAL_CONFIG.replace("repo1-", "repo2-")
S3_CONFIG = OFFSITE_CONFIG.replace("repo2-path=/var/lib/pgbackrest", "repo2-type=s3\nrepo2-path=/pap")


# --- database-archives-wal ---------------------------------------------------------------------------------


def _archiving(args: Any, config: dict[str, Any] | None = None, role: str | None = "database") -> list[str]:
    service = service_item("db", role, taskSpec={"containerSpec": {"args": args}})
    return run_resource_rule(backups.database_archives_wal, SERVICE, service["inputs"], config)


def _with(setting: str, value: str | None) -> list[str]:
    """ARCHIVING with `setting` changed (None: removed)."""
    args = list(ARCHIVING)
    index = next(i for i, arg in enumerate(args) if arg.startswith(f"{setting}="))
    args[index - 1 : index + 1] = [] if value is None else ["-c", f"{setting}={value}"]
    return args


def test_server_settings_read_every_postgres_spelling() -> None:
    settings = backups.server_settings(
        [
            "-c",
            "archive_mode=off",
            "-carchive_timeout=30s",
            "--archive-mode=on",
            "-c",
            "archive_command='a b'",
        ]
    )
    assert settings == {"archive_mode": "on", "archive_timeout": "30s", "archive_command": "a b"}
    assert backups.server_settings(["postgres", "-c"]) == {}


@pytest.mark.parametrize(
    ("args", "fires"),
    [
        (ARCHIVING, False),
        (_with("archive_mode", "always"), False),
        (_with("archive_mode", "off"), True),
        (_with("archive_mode", None), True),  # PostgreSQL's default is off
        (_with("archive_command", None), True),
        (_with("archive_command", "cp %p /mnt/wal/%f"), True),
        (_with("archive_command", "/usr/bin/pgbackrest --stanza=pap archive-push %p"), False),
        (_with("archive_command", "pgbackrest --stanza=pap archive-get %f %p"), True),
        (_with("archive_command", "pgbackrest --stanza=pap archive-push"), True),  # no segment to push
        (_with("archive_command", "pgbackrest 'archive-push %p"), True),  # unbalanced quote
        (_with("archive_timeout", None), True),
        (_with("archive_timeout", "0"), True),  # 0 turns it off
        (_with("archive_timeout", "90"), False),  # seconds when no unit is given
        (_with("archive_timeout", "1min"), False),
        (_with("archive_timeout", "2h"), True),  # above maxArchiveTimeoutSeconds (3600)
        (_with("archive_timeout", "soon"), True),
        (_with("wal_level", "minimal"), True),
        ([], True),
        (None, True),
        (UNKNOWN_ARRAY_VALUE, False),
        ([*ARCHIVING, UNKNOWN_STRING_VALUE], False),  # the unknown item may change a setting
    ],
)
def test_database_archives_wal(args: Any, fires: bool) -> None:
    messages = _archiving(args)
    assert bool(messages) is fires
    assert all("Fix:" in message for message in messages)


def test_archive_timeout_limit_is_configurable_and_only_databases_are_judged() -> None:
    assert _archiving(_with("archive_timeout", "2h"), {"maxArchiveTimeoutSeconds": 7200}) == []
    assert _archiving(_with("archive_timeout", "120s"), {"maxArchiveTimeoutSeconds": 60})
    assert _archiving([], role="cache") == []
    assert _archiving([], role=None) == []  # no database image either
    unlabelled = {"taskSpec": {"containerSpec": {"image": "postgres:16", "args": []}}}
    assert run_resource_rule(backups.database_archives_wal, SERVICE, unlabelled)


def test_every_missing_setting_is_named_once() -> None:
    (message,) = _archiving([])
    assert "archive_mode is not set" in message
    assert "archive_command is not set" in message
    assert "archive_timeout is not set" in message


# --- a small pgBackRest stack ------------------------------------------------------------------------------


def _config(name: str, content: str) -> dict[str, Any]:
    return plan_item(SERVICE_CONFIG, name, {"name": f"{name}-1", "data": encode(content)})


def _host(
    name: str,
    role: str,
    *,
    networks: list[str],
    volume: str | None,
    constraints: list[str] | None,
    config: str | None,
    env: dict[str, Any] | None = None,
) -> dict[str, Any]:
    configs = [{"configName": f"{config}-1", "fileName": CONFIG_PATH}] if config else []
    mounts = [{"type": "volume", "source": volume, "target": "/var/lib/pgbackrest"}] if volume else []
    container = {
        "env": {"PGBACKREST_CONFIG": CONFIG_PATH, **(env or {})},
        "configs": configs,
        "mounts": mounts,
    }
    task: dict[str, Any] = {"containerSpec": container, "networksAdvanceds": [{"name": n} for n in networks]}
    if constraints is not None:
        task["placement"] = {"constraints": constraints}
    return service_item(name, role, taskSpec=task)


def stack() -> dict[str, dict[str, Any]]:
    """The shape the program declares, by logical name."""
    items = [
        plan_item(NETWORK, "net-data", {"name": "t-data", "internal": True}),
        plan_item(NETWORK, "net-offsite", {"name": "t-offsite", "internal": True}),
        plan_item(VOLUME, "vol-db", {"name": "t-db-data"}),
        plan_item(VOLUME, "vol-local", {"name": "t-backups"}),
        plan_item(VOLUME, "vol-offsite", {"name": "t-backups-offsite"}),
        _config("conf-db", DATABASE_CONFIG),
        _config("conf-local", LOCAL_CONFIG),
        _config("conf-offsite", OFFSITE_CONFIG),
        _host(
            "db",
            "database",
            networks=["t-data", "t-offsite"],
            volume="t-db-data",
            constraints=["node.labels.pap.data == true"],
            config="conf-db",
        ),
        _host("backend", "backend", networks=["t-app", "t-data"], volume=None, constraints=None, config=None),
        _host(
            "backup",
            "backup",
            networks=["t-data"],
            volume="t-backups",
            constraints=["node.labels.pap.data == true"],
            config="conf-local",
        ),
        _host(
            "offsite",
            "backup-offsite",
            networks=["t-offsite"],
            volume="t-backups-offsite",
            constraints=["node.labels.pap.offsite == true"],
            config="conf-offsite",
        ),
    ]
    return {item["name"]: item for item in items}


def container(item: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = item["inputs"]["taskSpec"]["containerSpec"]
    return spec


def offsite_messages(items: dict[str, dict[str, Any]]) -> list[tuple[str, str | None]]:
    return run_stack_rule(backups.offsite_backup_repository, items.values())


def encryption_messages(items: dict[str, dict[str, Any]]) -> list[tuple[str, str | None]]:
    return run_stack_rule(backups.backup_repositories_encrypted, items.values())


def test_the_declared_shape_passes_both_stack_rules() -> None:
    assert offsite_messages(stack()) == []
    assert encryption_messages(stack()) == []


# --- offsite-backup-repository -----------------------------------------------------------------------------


def test_no_offsite_repository_is_reported_on_the_database() -> None:
    items = stack()
    del items["offsite"]
    reported = offsite_messages(items)
    assert [urn for _, urn in reported] == [items["db"]["urn"]]
    assert "no off-host backup repository" in reported[0][0]
    items["backend"]["inputs"]["labels"] = UNKNOWN_ARRAY_VALUE  # it may be the off-host repository
    assert offsite_messages(items) == []
    del items["db"]
    assert offsite_messages(items) == []  # nothing to back up


@pytest.mark.parametrize(
    ("networks", "fires"),
    [
        (["t-offsite"], False),
        (["t-offsite", "t-data"], True),  # the data network, with the backends and the local repository
        (["t-app"], True),  # a network the backends join, though not the database's
        (["t-nothing-else"], False),  # reaches nothing (a functional problem, not this rule's)
    ],
)
def test_offsite_shares_networks_with_the_database_only(networks: list[str], fires: bool) -> None:
    items = stack()
    items["offsite"]["inputs"]["taskSpec"]["networksAdvanceds"] = [{"name": n} for n in networks]
    reported = offsite_messages(items)
    assert bool(reported) is fires
    assert all(urn == items["offsite"]["urn"] for _, urn in reported)


def test_offsite_network_check_waits_for_unknown_networks() -> None:
    items = stack()
    items["offsite"]["inputs"]["taskSpec"]["networksAdvanceds"].append({"name": "t-data"})
    items["backend"]["inputs"]["taskSpec"]["networksAdvanceds"] = [{"name": UNKNOWN_STRING_VALUE}]
    items["backup"]["inputs"]["taskSpec"]["networksAdvanceds"] = UNKNOWN_ARRAY_VALUE
    assert offsite_messages(items) == []


@pytest.mark.parametrize(
    ("volume", "fires"),
    [("t-backups-offsite", False), ("t-backups", True), ("t-db-data", True), (None, True)],
)
def test_offsite_has_a_volume_of_its_own(volume: str | None, fires: bool) -> None:
    items = stack()
    mounts = [{"type": "volume", "source": volume, "target": "/var/lib/pgbackrest"}] if volume else []
    container(items["offsite"])["mounts"] = mounts
    assert bool(offsite_messages(items)) is fires


def test_an_object_store_needs_no_volume_and_no_placement() -> None:
    items = stack()
    items["conf-offsite"] = _config("conf-offsite", S3_CONFIG)
    container(items["offsite"])["mounts"] = []
    del items["offsite"]["inputs"]["taskSpec"]["placement"]
    assert offsite_messages(items) == []
    container(items["offsite"])["mounts"] = [{"type": "volume", "source": "t-db-data", "target": "/x"}]
    assert offsite_messages(items)  # still not the database's volume
    items["conf-offsite"]["inputs"]["data"] = UNKNOWN_STRING_VALUE  # posix or S3: a preview cannot tell
    container(items["offsite"])["mounts"] = []
    assert offsite_messages(items) == []


@pytest.mark.parametrize(
    ("constraints", "fires"),
    [
        (["node.labels.pap.offsite == true"], False),
        (["node.labels.pap.data != true"], False),
        (["node.labels.pap.data==true"], True),
        (["node.labels.pap.offsite == true", "node.labels.pap.data == true"], True),
        (["node.labels.rack == a"], True),  # the database's own (see below)
        ([], True),
        (None, True),
        (UNKNOWN_ARRAY_VALUE, False),
    ],
)
def test_offsite_is_placed_off_the_data_node(constraints: list[str] | None, fires: bool) -> None:
    items = stack()
    items["db"]["inputs"]["taskSpec"]["placement"]["constraints"].append("node.labels.rack == a")
    if constraints is None:
        del items["offsite"]["inputs"]["taskSpec"]["placement"]
    else:
        items["offsite"]["inputs"]["taskSpec"]["placement"]["constraints"] = constraints
    assert bool(offsite_messages(items)) is fires


# --- an off-host repository in an object store: its one way out --------------------------------------------


def s3_stack() -> dict[str, dict[str, Any]]:
    """The shape with backup.offsite.type s3: the off-host repository writes to a bucket and also joins a
    non-internal network of its own (the program's `pap-<stack>-egress`)."""
    items = stack()
    items["net-egress"] = plan_item(NETWORK, "net-egress", {"name": "t-egress", "internal": False})
    items["conf-offsite"] = _config("conf-offsite", S3_CONFIG)
    items["offsite"]["inputs"]["taskSpec"]["networksAdvanceds"].append({"name": "t-egress"})
    return items


def network_messages(items: dict[str, dict[str, Any]]) -> list[tuple[str, str | None]]:
    return run_stack_rule(service_network.data_tier_internal_networks_only, items.values())


def _join(items: dict[str, dict[str, Any]], service: str, network: str) -> None:
    items[service]["inputs"]["taskSpec"]["networksAdvanceds"].append({"name": network})


def test_an_object_store_repository_may_have_one_egress_network() -> None:
    items = s3_stack()
    assert network_messages(items) == []
    assert offsite_messages(items) == []  # nothing else is on its way out
    assert encryption_messages(items) == []
    for store in ("gcs", "azure"):
        items["conf-offsite"] = _config(
            "conf-offsite", S3_CONFIG.replace("repo2-type=s3", f"repo2-type={store}")
        )
        assert network_messages(items) == [], store
    # The repository type from its env counts like the file's (the env wins).
    items["conf-offsite"] = _config("conf-offsite", OFFSITE_CONFIG)
    container(items["offsite"])["env"]["PGBACKREST_REPO2_TYPE"] = "s3"
    assert network_messages(items) == []
    # A preview that cannot read its config yet: allowed for now, `pulumi up` judges the values.
    items = s3_stack()
    items["conf-offsite"]["inputs"]["data"] = UNKNOWN_STRING_VALUE
    assert network_messages(items) == []


@pytest.mark.parametrize(
    ("edit", "offenders"),
    [
        # Exactly one way out: a second non-internal network is refused (both named: which is the egress?).
        (lambda items: _join(items, "offsite", "t-edge"), ["offsite", "offsite"]),
        # A network this stack does not declare is no egress of its own.
        (lambda items: items.pop("net-egress"), ["offsite"]),
    ],
    ids=["second-way-out", "undeclared-egress"],
)
def test_an_object_store_repository_gets_one_declared_way_out_only(edit: Any, offenders: list[str]) -> None:
    items = s3_stack()
    items["net-edge"] = plan_item(NETWORK, "net-edge", {"name": "t-edge", "internal": False})
    edit(items)
    reported = network_messages(items)
    assert [urn for _, urn in reported] == [items[name]["urn"] for name in offenders]
    assert all("object store may join one" in message and "Fix:" in message for message, _ in reported)


@pytest.mark.parametrize(
    "content",
    [OFFSITE_CONFIG, OFFSITE_CONFIG.replace("repo2-path", "repo2-type=posix\nrepo2-path")],
    ids=["posix-by-default", "posix"],
)
def test_no_egress_for_a_posix_offsite_repository(content: str) -> None:
    items = s3_stack()
    items["conf-offsite"] = _config("conf-offsite", content)
    (message, urn), *others = network_messages(items)
    assert others == [] and urn == items["offsite"]["urn"]
    assert "'t-egress'" in message and "needs no way out" in message and "Fix:" in message
    container(items["offsite"])["configs"] = []  # no readable config: no object store either
    assert [urn for _, urn in network_messages(items)] == [items["offsite"]["urn"]]


@pytest.mark.parametrize("service", ["db", "backup"])
def test_no_egress_for_any_other_data_service(service: str) -> None:
    """The exception is the off-host repository's: the database or the local repository on that network is
    the data tier reachable from outside (and the egress is no longer the off-host repository's own)."""
    items = s3_stack()
    _join(items, service, "t-egress")
    reported = network_messages(items)
    assert [urn for _, urn in reported] == [items[service]["urn"]]
    assert "'t-egress'" in reported[0][0]
    cache = service_item("cache", "cache", taskSpec={"networksAdvanceds": [{"name": "t-egress"}]})
    items["cache"] = cache
    assert items["cache"]["urn"] in {urn for _, urn in network_messages(items)}


def test_the_egress_network_is_the_offsite_repositorys_alone() -> None:
    items = s3_stack()
    _join(items, "backend", "t-egress")
    reported = offsite_messages(items)
    assert [urn for _, urn in reported] == [items["offsite"]["urn"]]
    assert "'t-egress', which is not internal, with 'backend'" in reported[0][0]
    assert "Fix:" in reported[0][0]
    items = s3_stack()
    _join(items, "db", "t-egress")  # on an internal network the database may share it; not the way out
    assert [urn for _, urn in offsite_messages(items)] == [items["offsite"]["urn"]]


def test_database_config_names_two_repositories() -> None:
    items = stack()
    one = DATABASE_CONFIG.replace("repo2-host=backup-offsite\nrepo2-host-type=tls\n", "")
    items["conf-db"] = _config("conf-db", one)
    reported = offsite_messages(items)
    assert [urn for _, urn in reported] == [items["conf-db"]["urn"]]  # where the fix goes
    assert "names one repository (repo1)" in reported[0][0]
    container(items["db"])["env"]["PGBACKREST_REPO2_HOST"] = "backup-offsite"  # options from env count
    assert offsite_messages(items) == []
    container(items["db"])["env"] = {}  # no config file at all: pgBackRest's one default repository
    container(items["db"])["configs"] = []
    reported = offsite_messages(items)
    assert [urn for _, urn in reported] == [items["db"]["urn"]]
    assert "/etc/pgbackrest/pgbackrest.conf (no mounted file)" in reported[0][0]


def test_database_config_unknown_or_undeclared() -> None:
    items = stack()
    items["conf-db"]["inputs"]["data"] = UNKNOWN_STRING_VALUE
    assert offsite_messages(items) == []
    items = stack()
    container(items["db"])["env"]["PGBACKREST_CONFIG"] = UNKNOWN_STRING_VALUE
    assert offsite_messages(items) == []
    items = stack()
    del items["conf-db"]
    reported = offsite_messages(items)
    assert len(reported) == 1 and "no docker.ServiceConfig of this stack" in reported[0][0]
    items["conf-new"] = plan_item(SERVICE_CONFIG, "conf-new", {"name": UNKNOWN_STRING_VALUE, "data": ""})
    assert offsite_messages(items) == []  # it may be the one mounted


# --- backup-repositories-encrypted -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "fires"),
    [
        (LOCAL_CONFIG, False),
        (LOCAL_CONFIG.replace("aes-256-cbc", "none"), True),
        (LOCAL_CONFIG.replace("repo1-cipher-type=aes-256-cbc\n", ""), True),
        (LOCAL_CONFIG + "[pap:backup]\nrepo1-cipher-type=none\n", True),  # any section may turn it off
        ("[global]\nlog-level-console=info\n", True),  # pgBackRest's default repository 1, unencrypted
        ("[global]\nrepo1-host=elsewhere\n", False),  # the repository is another host's
        (S3_CONFIG, False),
        (S3_CONFIG.replace("aes-256-cbc", "none"), True),
    ],
)
def test_repository_config_sets_a_cipher(content: str, fires: bool) -> None:
    items = stack()
    items["conf-local"] = _config("conf-local", content)
    items["conf-offsite"] = _config("conf-offsite", content.replace("repo1-", "repo2-"))
    reported = encryption_messages(items)
    assert len(reported) == (2 if fires else 0)
    assert {urn for _, urn in reported} <= {items["conf-local"]["urn"], items["conf-offsite"]["urn"]}


def test_repository_cipher_from_env_wins() -> None:
    items = stack()
    container(items["backup"])["env"]["PGBACKREST_REPO1_CIPHER_TYPE"] = "none"
    reported = encryption_messages(items)
    assert [urn for _, urn in reported] == [items["backup"]["urn"]]
    assert "PGBACKREST_REPO1_CIPHER_TYPE" in reported[0][0]
    items["conf-local"] = _config("conf-local", LOCAL_CONFIG.replace("aes-256-cbc", "none"))
    container(items["backup"])["env"]["PGBACKREST_REPO1_CIPHER_TYPE"] = "aes-256-cbc"
    assert encryption_messages(items) == []
    container(items["backup"])["env"]["PGBACKREST_REPO1_CIPHER_TYPE"] = UNKNOWN_STRING_VALUE
    assert encryption_messages(items) == []


def test_repository_without_a_readable_config() -> None:
    items = stack()
    container(items["backup"])["configs"] = []  # PGBACKREST_CONFIG names a file nothing mounts
    reported = encryption_messages(items)
    assert [urn for _, urn in reported] == [items["backup"]["urn"]]
    assert "sets no repo1-cipher-type" in reported[0][0]
    items = stack()
    items["conf-local"]["inputs"]["data"] = "not base64!"
    (message, _), *others = encryption_messages(items)
    assert others == [] and "not base64" in message
    for unknown in ("data", "name"):
        items = stack()
        items["conf-local"]["inputs"][unknown] = UNKNOWN_STRING_VALUE
        assert encryption_messages(items) == []
    items = stack()
    container(items["backup"])["configs"] = UNKNOWN_ARRAY_VALUE
    container(items["offsite"])["env"] = UNKNOWN_OBJECT_VALUE
    assert encryption_messages(items) == []


def test_no_cipher_passphrase_outside_secrets() -> None:
    secret = "correct-horse-battery-staple"
    items = stack()
    items["conf-stray"] = _config("conf-stray", f"[global]\n  repo3-cipher-pass = {secret}\n")
    container(items["backend"])["env"]["PGBACKREST_REPO1_CIPHER_PASS"] = secret
    container(items["offsite"])["args"] = ["pap-repository", "run", f"--repo2-cipher-pass={secret}"]
    reported = encryption_messages(items)
    assert sorted(urn or "" for _, urn in reported) == sorted(
        [items["conf-stray"]["urn"], items["backend"]["urn"], items["offsite"]["urn"]]
    )
    assert all(secret not in message and "Fix:" in message for message, _ in reported)
    # An empty value sets nothing; a comment or another option is no passphrase.
    items = stack()
    container(items["backend"])["env"]["PGBACKREST_REPO1_CIPHER_PASS"] = ""
    items["conf-stray"] = _config("conf-stray", "# repo1-cipher-pass=x\nrepo1-cipher-type=aes-256-cbc\n")
    assert encryption_messages(items) == []


def test_a_passphrase_in_env_is_refused_even_when_its_value_is_unknown() -> None:
    items = stack()
    container(items["backup"])["env"]["PGBACKREST_REPO1_CIPHER_PASS"] = UNKNOWN_STRING_VALUE
    assert [urn for _, urn in encryption_messages(items)] == [items["backup"]["urn"]]
