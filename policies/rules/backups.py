"""Backups with pgBackRest: the database archives its WAL, a second repository lives off the database's host,
and every repository is encrypted with a passphrase that only Swarm secrets hold.

pgBackRest reads its options from the file named by PGBACKREST_CONFIG (a docker.ServiceConfig the service
mounts, base64 `data`), then from `PGBACKREST_<OPTION>` env variables (which win), and from the `*.conf` files
of PGBACKREST_CONFIG_INCLUDE_PATH (Swarm secrets, which the rules cannot and need not read). Repository N's
options are `repoN-*`; `repoN-host*` means the repository is on another host (the database's view of it).
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from ._policy import Report, resource_policy, stack_policy
from ._props import (
    DATA_NODE_CONSTRAINT,
    LOCAL_REPOSITORY_ROLE,
    OFFSITE_NODE_CONSTRAINT,
    OFFSITE_REPOSITORY_ROLE,
    SERVICE_CONFIG,
    UNKNOWN,
    Resource,
    Unknown,
    config_value,
    dicts,
    has_unknown_items,
    internal_networks,
    is_unknown,
    joined_networks,
    number,
    role_of,
    service_of,
    services,
    strings,
    text,
    volume_mounts,
)
from .nginx_config import decoded_data, mounts_unknown, service_configs

DATABASE_ROLE = "database"
REPOSITORY_ROLES = (LOCAL_REPOSITORY_ROLE, OFFSITE_REPOSITORY_ROLE)
CONFIG_ENV = "PGBACKREST_CONFIG"
ENV_PREFIX = "PGBACKREST_"
DEFAULT_CONFIG_PATH = "/etc/pgbackrest/pgbackrest.conf"  # pgBackRest's own default
OBJECT_STORES = ("s3", "gcs", "azure")  # repoN-type values that keep the repository off every node
NO_CIPHER = "none"
REPO_OPTION = re.compile(r"^repo(?P<index>[1-9][0-9]*)-(?P<option>[a-z0-9-]+)$")
CIPHER_PASS_LINE = re.compile(r"^[ \t]*repo[0-9]+-cipher-pass[ \t]*=[ \t]*\S", re.MULTILINE | re.IGNORECASE)
CIPHER_PASS_ENV = re.compile(r"^PGBACKREST_REPO[0-9]+_CIPHER_PASS$", re.IGNORECASE)
CIPHER_PASS_ARG = re.compile(r"^--repo[0-9]+-cipher-pass(=|$)")
ARCHIVING_MODES = ("on", "always", "true", "yes", "1")
TIMEOUT = re.compile(r"^(?P<amount>[0-9]+(\.[0-9]+)?)\s*(?P<unit>ms|s|min|h|d)?$")
SECONDS_PER_UNIT = {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "d": 86400}
DEFAULT_MAX_ARCHIVE_TIMEOUT = 3600  # seconds: the most writes a lost data volume may take with it
WAL_FIX = (
    'taskSpec.containerSpec.args ["-c", "archive_mode=on", "-c", "archive_command=pgbackrest '
    '--stanza=<stanza> archive-push %p", "-c", "archive_timeout=60s"] (infra/pgbackrest.py, '
    "backup.archiveTimeoutSeconds)"
)

Option = tuple[str, str, str]  # (section, name, value) of a pgBackRest config file


# --- PostgreSQL's archiving settings -----------------------------------------------------------------------


def _unquoted(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def server_settings(args: Iterable[str]) -> dict[str, str]:
    """The `-c name=value`, `-cname=value` and `--name=value` settings of postgres' args (the last wins)."""
    settings: dict[str, str] = {}
    items = iter(args)
    for arg in items:
        if arg == "-c":
            setting: str | None = next(items, None)
        elif arg.startswith("-c") or (arg.startswith("--") and "=" in arg):
            setting = arg[2:]
        else:
            continue
        if setting is None or "=" not in setting:
            continue
        name, _, value = setting.partition("=")
        settings[name.strip().lower().replace("-", "_")] = _unquoted(value)
    return settings


def pushes_with_pgbackrest(command: str) -> bool:
    """Whether an archive_command runs `pgbackrest ... archive-push %p`."""
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    if not words or posixpath.basename(words[0]) != "pgbackrest":
        return False
    return "archive-push" in words and "%p" in words


def timeout_seconds(value: str) -> float | None:
    """archive_timeout in seconds (PostgreSQL's unit when none is given); None when unparsable."""
    match = TIMEOUT.match(value.strip())
    if match is None:
        return None
    return float(match["amount"]) * SECONDS_PER_UNIT[match["unit"] or "s"]


def _archiving_problems(settings: Mapping[str, str], max_timeout: float) -> list[str]:
    problems = []
    mode = settings.get("archive_mode")
    if mode is None:
        problems.append("archive_mode is not set (PostgreSQL's default is off)")
    elif mode.lower() not in ARCHIVING_MODES:
        problems.append(f"archive_mode is {mode}")
    command = settings.get("archive_command")
    if command is None:
        problems.append("archive_command is not set")
    elif not pushes_with_pgbackrest(command):
        problems.append(f"archive_command '{command}' does not run `pgbackrest ... archive-push %p`")
    timeout = settings.get("archive_timeout")
    seconds = timeout_seconds(timeout) if timeout is not None else None
    if timeout is None:
        problems.append("archive_timeout is not set, so a quiet database keeps its last writes unarchived")
    elif seconds is None:
        problems.append(f"archive_timeout '{timeout}' is no duration")
    elif seconds <= 0:
        problems.append("archive_timeout is 0, which turns it off")
    elif seconds > max_timeout:
        problems.append(f"archive_timeout {timeout} exceeds maxArchiveTimeoutSeconds ({max_timeout:g})")
    if settings.get("wal_level", "replica").lower() == "minimal":
        problems.append("wal_level is minimal, which cannot be archived")
    return problems


def database_archives_wal(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is None or role_of(service) != DATABASE_ROLE:
        return
    arguments = service.spec("args")
    if has_unknown_items(arguments):
        return  # a setting may hide in the unknown part; `pulumi up` checks again
    max_timeout = number(
        config_value(args.get_config(), "maxArchiveTimeoutSeconds", DEFAULT_MAX_ARCHIVE_TIMEOUT)
    )
    problems = _archiving_problems(
        server_settings(strings(arguments)), max_timeout or DEFAULT_MAX_ARCHIVE_TIMEOUT
    )
    if problems:
        report(
            f"database service '{service.name}' does not archive its WAL continuously through pgBackRest: "
            f"{'; '.join(problems)}. Without it a restore ends at the last backup and loses every write "
            f"since. Fix: {WAL_FIX}."
        )


# --- pgBackRest's configuration as each host reads it ------------------------------------------------------


def config_options(content: str) -> list[Option]:
    """(section, name, value) of every option line of a pgBackRest config file."""
    options: list[Option] = []
    section = ""
    for raw in content.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        name, equals, value = line.partition("=")
        if equals:
            options.append((section, name.strip().lower(), value.strip()))
    return options


def _env_option(name: str) -> str | None:
    """`PGBACKREST_REPO1_CIPHER_TYPE` -> `repo1-cipher-type`."""
    if not name.upper().startswith(ENV_PREFIX):
        return None
    return name[len(ENV_PREFIX) :].lower().replace("_", "-")


@dataclass(frozen=True)
class PgBackRest:
    """One host's pgBackRest options: its config file's (mounted from `source`) and its env's."""

    path: str  # where the task reads its config file
    source: Resource | None  # the docker.ServiceConfig mounted there; None when nothing is
    file_options: tuple[Option, ...] = ()
    env_options: Mapping[str, str | Unknown] = field(default_factory=dict)

    def values(self, name: str) -> list[str] | Unknown:
        """What the host reads for an option: the env's (which wins) or every value in the file."""
        if name in self.env_options:
            value = self.env_options[name]
            return [value] if isinstance(value, str) else UNKNOWN
        return [value for _, option, value in self.file_options if option == name]

    def _named(self) -> dict[int, set[str]]:
        named: dict[int, set[str]] = {}
        for option in [name for _, name, _ in self.file_options] + list(self.env_options):
            if match := REPO_OPTION.match(option):
                named.setdefault(int(match["index"]), set()).add(match["option"])
        return named

    def repositories(self) -> set[int]:
        """Every repository the host uses; pgBackRest's default is repository 1 alone."""
        return set(self._named()) or {1}

    def hosted(self) -> set[int]:
        """The repositories this host stores itself (not reached through repoN-host)."""
        remote = {
            index
            for index, options in self._named().items()
            if any(option == "host" or option.startswith("host-") for option in options)
        }
        return self.repositories() - remote

    def describe(self) -> str:
        where = f"service config '{self.source.name}'" if self.source else "no mounted file"
        return f"its pgBackRest config {self.path} ({where})"


def config_names_unknown(resources: Iterable[PolicyResource]) -> bool:
    """Whether a preview cannot name one of the stack's docker.ServiceConfig resources."""
    return any(
        resource.type == SERVICE_CONFIG and not isinstance(resource.get("name"), str)
        for resource in map(Resource.of, resources)
    )


def load_pgbackrest(
    service: Resource, configs: Mapping[str, Resource], names_unknown: bool
) -> PgBackRest | Unknown | str:
    """The service's pgBackRest options; UNKNOWN when a preview cannot tell; a problem when unreadable."""
    env = service.spec("env")
    if is_unknown(env) or mounts_unknown(service):
        return UNKNOWN
    env = env if isinstance(env, dict) else {}
    path = env.get(CONFIG_ENV)
    if is_unknown(path):
        return UNKNOWN
    path = posixpath.normpath(path if isinstance(path, str) and path else DEFAULT_CONFIG_PATH)
    from_env = {option: value for name, value in env.items() if (option := _env_option(name))}
    mounted = dicts(service.spec("configs"))
    mount = next((m for m in mounted if posixpath.normpath(text(m.get("fileName")) or "") == path), None)
    if mount is None:
        return PgBackRest(path, None, (), from_env)
    name = text(mount.get("configName")) or "?"
    source = configs.get(name)
    if source is None:
        if names_unknown:
            return UNKNOWN  # it may be the one a preview cannot name yet
        return f"it mounts config '{name}' at {path}, which is no docker.ServiceConfig of this stack"
    try:
        content = decoded_data(source)
    except ValueError as error:
        return str(error)
    if content is None:
        return UNKNOWN
    return PgBackRest(path, source, tuple(config_options(content)), from_env)


# --- an off-host repository --------------------------------------------------------------------------------


def _networks_unknown(service: Resource) -> bool:
    networks = service.at("taskSpec", "networksAdvanceds")
    return has_unknown_items(networks) or any(is_unknown(item.get("name")) for item in dicts(networks))


def _volumes_unknown(service: Resource) -> bool:
    mounts = service.spec("mounts")
    return has_unknown_items(mounts) or any(
        is_unknown(mount.get("type")) or is_unknown(mount.get("source")) for mount in dicts(mounts)
    )


def _constraint(value: str) -> str:
    return re.sub(r"\s+", "", value)


def _object_store(config: PgBackRest | Unknown | str) -> bool | None:
    """Whether every repository the host stores is an object store (None: a preview cannot tell)."""
    if isinstance(config, Unknown):
        return None
    if isinstance(config, str):
        return False
    kinds = [config.values(f"repo{index}-type") for index in config.hosted()]
    if any(isinstance(kind, Unknown) for kind in kinds):
        return None
    return bool(kinds) and all(
        isinstance(kind, list) and bool(kind) and kind[-1] in OBJECT_STORES for kind in kinds
    )


def stores_in_object_store(service: Resource, resources: Iterable[PolicyResource]) -> bool | None:
    """Whether an off-host repository service keeps every repository it stores in an object store (repoN-type
    s3, gcs or azure in its pgBackRest config or env), so that it must reach the store's endpoint; None when
    a preview cannot tell. False for every other role."""
    if service.role != OFFSITE_REPOSITORY_ROLE:
        return False
    listed = list(resources)
    return _object_store(load_pgbackrest(service, service_configs(listed), config_names_unknown(listed)))


def _network_problems(
    offsite: Resource, declared: list[Resource], internal: Mapping[str, bool]
) -> Iterator[str]:
    if any(_networks_unknown(service) for service in declared):
        return
    for network in joined_networks(offsite):
        # An internal network it may share with the database; a way out (an object store's egress, which
        # data-tier-internal-networks-only allows it alone) with nothing at all.
        way_out = not internal.get(network, False)
        allowed = (OFFSITE_REPOSITORY_ROLE,) if way_out else (DATABASE_ROLE, OFFSITE_REPOSITORY_ROLE)
        others = [
            service.name
            for service in declared
            if service is not offsite
            and role_of(service) not in allowed
            and network in joined_networks(service)
        ]
        if not others:
            continue
        names = ", ".join(f"'{name}'" for name in others)
        if way_out:
            yield (
                f"it joins network '{network}', which is not internal, with {names}: the off-host "
                "repository's way out to its object store must be its own, or what shares it shares a path "
                "into the off-host copy. Fix: leave that network (the stack's egress network) to the "
                f"off-host repository alone and take {names} off it"
            )
        else:
            yield (
                f"it joins network '{network}' with {names}: whatever reaches the database's data "
                "network reaches the off-host copy too. Fix: attach it only to a network it shares with the "
                "database alone (the stack's internal offsite network)"
            )


def _volume_problems(
    offsite: Resource, local: list[Resource], databases: list[Resource], object_store: bool | None
) -> Iterator[str]:
    if any(_volumes_unknown(service) for service in [offsite, *local, *databases]):
        return
    own = volume_mounts(offsite)
    if not own and object_store is False:
        yield (
            "it mounts no volume, so its repository has nowhere to persist. Fix: mount a docker.Volume of "
            "its own (type volume) at its repoN-path"
        )
    for role, holders in (("local repository's", local), ("database's", databases)):
        shared = sorted(own & {volume for holder in holders for volume in volume_mounts(holder)})
        if shared:
            yield (
                f"it mounts the {role} volume {', '.join(shared)}: one disk holds the data and its copies. "
                "Fix: mount a docker.Volume of its own (type volume) at its repoN-path"
            )


def _placement_problems(
    offsite: Resource, databases: list[Resource], object_store: bool | None
) -> Iterator[str]:
    if object_store is not False:
        return  # a bucket is off every node already (or a preview cannot tell yet)
    constraints = offsite.at("taskSpec", "placement", "constraints")
    if has_unknown_items(constraints) or any(
        has_unknown_items(database.at("taskSpec", "placement", "constraints")) for database in databases
    ):
        return
    data_node = {_constraint(DATA_NODE_CONSTRAINT)} | {
        _constraint(constraint)
        for database in databases
        for constraint in strings(database.at("taskSpec", "placement", "constraints"))
    }
    own = strings(constraints)
    on_data_node = [constraint for constraint in own if _constraint(constraint) in data_node]
    if not own or on_data_node:
        how = (
            f"is placed by '{on_data_node[0]}', the data node's constraint"
            if own
            else "has no placement constraint"
        )
        yield (
            f"it {how}, so Swarm may run it on the database's node and a lost node takes both "
            f'copies. Fix: taskSpec.placement.constraints ["{OFFSITE_NODE_CONSTRAINT}"] '
            "(backup.offsite.placement; label another node)"
        )


def offsite_backup_repository(args: StackValidationArgs, report: Report) -> None:
    declared = services(args.resources)
    databases = [service for service in declared if role_of(service) == DATABASE_ROLE]
    if not databases:
        return
    configs = service_configs(args.resources)
    names_unknown = config_names_unknown(args.resources)
    offsite = [service for service in declared if service.role == OFFSITE_REPOSITORY_ROLE]
    local = [service for service in declared if service.role == LOCAL_REPOSITORY_ROLE]
    internal = internal_networks(args.resources)
    if not offsite and not any(is_unknown(role_of(service)) for service in declared):
        for database in databases:
            report(
                f"database service '{database.name}' has no off-host backup repository (a service with "
                f"pap.role {OFFSITE_REPOSITORY_ROLE}): every copy of its data lives on its own node. Fix: "
                "deploy the backup component's backup-offsite repository (its own volume, the offsite "
                "network, a node labelled pap.offsite).",
                database.urn,
            )
    for service in offsite:
        object_store = _object_store(load_pgbackrest(service, configs, names_unknown))
        problems = [
            *_network_problems(service, declared, internal),
            *_volume_problems(service, local, databases, object_store),
            *_placement_problems(service, databases, object_store),
        ]
        for problem in problems:
            report(f"off-host repository service '{service.name}': {problem}.", service.urn)
    for database in databases:
        config = load_pgbackrest(database, configs, names_unknown)
        if isinstance(config, Unknown):
            continue
        if isinstance(config, str):
            report(
                f"database service '{database.name}': {config}. Fix: mount the stack's pgBackRest config "
                f"(a docker.ServiceConfig) where {CONFIG_ENV} points.",
                database.urn,
            )
            continue
        repositories = config.repositories()
        if len(repositories) < 2:
            shown = ", ".join(f"repo{index}" for index in sorted(repositories))
            report(
                f"database service '{database.name}': {config.describe()} names one repository ({shown}), "
                "so its WAL and backups have no second, off-host copy. Fix: name both repository hosts in "
                "the config, repo1-host=backup and repo2-host=backup-offsite (with their repoN-host-* TLS "
                "options).",
                (config.source or database).urn,
            )


# --- encrypted repositories --------------------------------------------------------------------------------


def _cipher_problem(config: PgBackRest, index: int) -> str | None:
    values = config.values(f"repo{index}-cipher-type")
    if isinstance(values, Unknown):
        return None
    if not values:
        return f"sets no repo{index}-cipher-type, so pgBackRest stores repository {index} unencrypted (none)"
    if any(value.lower() == NO_CIPHER for value in values):
        return f"sets repo{index}-cipher-type none, so repository {index} is stored unencrypted"
    return None


def _passphrase_in_configs(resources: Iterable[PolicyResource]) -> Iterator[Resource]:
    for config in map(Resource.of, resources):
        if config.type != SERVICE_CONFIG:
            continue
        try:
            content = decoded_data(config)
        except ValueError:
            continue  # configs-hold-no-key-material and the nginx rules report unreadable data
        if content is not None and CIPHER_PASS_LINE.search(content):
            yield config


def _passphrase_settings(service: Resource) -> list[str]:
    """Where a service's env or args carry a repository's cipher passphrase (never the value)."""
    env = service.spec("env")
    found = [
        f"env {name}"
        for name, value in (env.items() if isinstance(env, dict) else ())
        if CIPHER_PASS_ENV.match(name) and value != ""
    ]
    found += [
        f"args {arg.partition('=')[0]}" for arg in strings(service.spec("args")) if CIPHER_PASS_ARG.match(arg)
    ]
    return found


INCLUDE_FILE_FIX = (
    "Fix: put `repoN-cipher-pass=...` into a docker.Secret mounted under the repository service's "
    "PGBACKREST_CONFIG_INCLUDE_PATH (e.g. /run/secrets/pgbackrest/repoN.conf, fileMode 0o400) and keep only "
    "repoN-cipher-type in the config"
)


def backup_repositories_encrypted(args: StackValidationArgs, report: Report) -> None:
    declared = services(args.resources)
    configs = service_configs(args.resources)
    names_unknown = config_names_unknown(args.resources)
    for service in (service for service in declared if service.role in REPOSITORY_ROLES):
        config = load_pgbackrest(service, configs, names_unknown)
        if isinstance(config, Unknown):
            continue
        if isinstance(config, str):
            report(
                f"repository service '{service.name}': {config}, so its repositories' encryption cannot be "
                "checked. Fix: mount the stack's pgBackRest config (a docker.ServiceConfig) where "
                f"{CONFIG_ENV} points.",
                service.urn,
            )
            continue
        for index in sorted(config.hosted()):
            problem = _cipher_problem(config, index)
            if problem is None:
                continue
            in_env = f"repo{index}-cipher-type" in config.env_options
            where = f"its env PGBACKREST_REPO{index}_CIPHER_TYPE" if in_env else config.describe()
            report(
                f"repository service '{service.name}': {where} {problem}: anyone who copies its "
                "volume or bucket reads the whole database. Fix: "
                f"repo{index}-cipher-type=aes-256-cbc in the config"
                + (f" (and drop PGBACKREST_REPO{index}_CIPHER_TYPE from its env)" if in_env else "")
                + ", with the passphrase in a secret include file.",
                (config.source if config.source and not in_env else service).urn,
            )
    for config_resource in _passphrase_in_configs(args.resources):
        report(
            f"service config '{config_resource.name}' sets a repository's cipher-pass: Swarm configs are not "
            "encrypted at rest, `docker config inspect` shows them, and the passphrase opens every backup. "
            f"{INCLUDE_FILE_FIX}.",
            config_resource.urn,
        )
    for service in declared:
        for where in _passphrase_settings(service):
            report(
                f"service '{service.name}' passes a repository's cipher passphrase in {where}: "
                "`docker service inspect` shows it, and it opens every backup. "
                f"{INCLUDE_FILE_FIX}.",
                service.urn,
            )


POLICIES = [
    resource_policy(
        "database-archives-wal",
        database_archives_wal,
        prohibits="The database must archive its WAL continuously through pgBackRest (args "
        "archive_mode=on, archive_command `pgbackrest ... archive-push %p`, archive_timeout at most "
        "maxArchiveTimeoutSeconds): without it a restore ends at the last scheduled backup and loses every "
        "write since.",
        reference="NIST SP 800-53 CP-9 (system backup), CP-10 (recovery point)",
        config={
            "maxArchiveTimeoutSeconds": {
                "type": "integer",
                "minimum": 1,
                "default": DEFAULT_MAX_ARCHIVE_TIMEOUT,
                "description": "The largest archive_timeout allowed: the most writes a lost volume may take.",
            }
        },
    ),
    stack_policy(
        "offsite-backup-repository",
        offsite_backup_repository,
        prohibits="Every database needs an off-host pgBackRest repository: a service with pap.role "
        "backup-offsite that shares no network with anything but the database (not the data network) and "
        "its way out to an object store (a non-internal network) with nothing at all, mounts "
        "a volume of its own (not the local repository's or the database's) and is placed off the data node; "
        "and the database's pgBackRest config names two repositories. One node's loss must not take the data "
        "and every copy of it.",
        reference="NIST SP 800-53 CP-6 (alternate storage site), CP-9; CIS Controls 11.4 (isolated recovery "
        "data)",
    ),
    stack_policy(
        "backup-repositories-encrypted",
        backup_repositories_encrypted,
        prohibits="Every pgBackRest repository must be encrypted (repoN-cipher-type other than none in the "
        "repository service's config), and no cipher passphrase may appear in a Swarm config, a service's "
        "env or its args: only in a Swarm secret (an include file).",
        reference="NIST SP 800-53 CP-9(8) (cryptographic protection of backups); CIS Controls 11.3; OWASP "
        "Secrets Management Cheat Sheet",
    ),
]
