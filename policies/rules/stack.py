"""Stack rules on the platform's shape: every long-running part a Swarm service, every database backed up into
a repository volume of its own (pgBackRest's local repository; backups.py checks the rest of the backups)."""

from __future__ import annotations

from pulumi_policy import Severity, StackValidationArgs

from ._policy import Report, stack_policy
from ._props import (
    CONTAINER,
    LOCAL_REPOSITORY_ROLE,
    VOLUME,
    Resource,
    has_unknown_items,
    role_of,
    services,
    text,
    volume_mounts,
)


def no_standalone_containers(args: StackValidationArgs, report: Report) -> None:
    for resource in (Resource.of(resource) for resource in args.resources):
        if resource.type == CONTAINER:
            report(
                f"container '{resource.name}' is a standalone docker.Container: it bypasses Swarm's rolling "
                "updates and rollback, its restart and placement, and Swarm secrets and configs (it can only "
                "get files by uploads or bind mounts). Fix: declare it as a docker.Service.",
                resource.urn,
            )


def _declared_volumes(args: StackValidationArgs) -> set[str]:
    names: set[str] = set()
    for volume in (Resource.of(resource) for resource in args.resources):
        if volume.type == VOLUME:
            names.add(volume.name)
            physical = text(volume.get("name"))
            if physical:
                names.add(physical)
    return names


def database_backed_up(args: StackValidationArgs, report: Report) -> None:
    declared = services(args.resources)
    backups = [service for service in declared if service.role == LOCAL_REPOSITORY_ROLE]
    if any(has_unknown_items(backup.spec("mounts")) for backup in backups):
        return
    volumes = _declared_volumes(args)
    for database in (service for service in declared if role_of(service) == "database"):
        own = volume_mounts(database)
        repositories = {backup.name: (volume_mounts(backup) & volumes) - own for backup in backups}
        if not backups:
            report(
                f"database service '{database.name}' has no backup repository service (pap.role "
                f"{LOCAL_REPOSITORY_ROLE}) in the stack. Fix: add the backup component (pgBackRest's "
                "repository 1) for it.",
                database.urn,
            )
        elif not any(repositories.values()):
            names = ", ".join(f"'{backup.name}'" for backup in backups)
            report(
                f"database service '{database.name}': backup service {names} mounts no repository volume of "
                "its own (a docker.Volume of this stack, not the database's), so the backups share the "
                "data's fate. Fix: mount the stack's backups volume (type volume) at the repository's path "
                "(repo1-path) in the backup service.",
                database.urn,
            )


POLICIES = [
    stack_policy(
        "no-standalone-containers",
        no_standalone_containers,
        prohibits="The platform declares no docker.Container: every long-running part is a docker.Service, "
        "because a standalone container bypasses rolling updates, rollback, Swarm secrets and placement, "
        "and every container rule of this pack is written for services.",
        reference="CIS Docker 7.x (Swarm configuration); OWASP Docker Security Cheat Sheet",
    ),
    stack_policy(
        "database-backed-up",
        database_backed_up,
        prohibits="Every database needs a backup repository service (pap.role backup) that mounts a backups "
        "volume of its own in the same stack: data without an automated backup is data waiting to be lost.",
        reference="OWASP ASVS V14.1 (backups); CIS Controls 11",
        severity=Severity.MEDIUM,
    ),
]
