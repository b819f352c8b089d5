"""Stack rules on the platform's shape: every long-running part a Swarm service, every database backed up."""

from __future__ import annotations

from pulumi_policy import Severity, StackValidationArgs

from ._policy import Report, stack_policy
from ._props import CONTAINER, VOLUME, Resource, dicts, has_unknown_items, services, text
from .service_network import role_of


def no_standalone_containers(args: StackValidationArgs, report: Report) -> None:
    for resource in (Resource.of(resource) for resource in args.resources):
        if resource.type == CONTAINER:
            report(
                f"container '{resource.name}' is a standalone docker.Container: it bypasses Swarm's rolling "
                "updates and rollback, its restart and placement, and Swarm secrets and configs (it can only "
                "get files by uploads or bind mounts). Fix: declare it as a docker.Service.",
                resource.urn,
            )


def _volume_mounts(service: Resource) -> set[str]:
    return {
        source
        for mount in dicts(service.spec("mounts"))
        if mount.get("type") == "volume" and (source := text(mount.get("source")))
    }


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
    backups = [service for service in declared if service.role == "backup"]
    if any(has_unknown_items(backup.spec("mounts")) for backup in backups):
        return
    volumes = _declared_volumes(args)
    for database in (service for service in declared if role_of(service) == "database"):
        own = _volume_mounts(database)
        dumps = {backup.name: (_volume_mounts(backup) & volumes) - own for backup in backups}
        if not backups:
            report(
                f"database service '{database.name}' has no backup service (pap.role backup) in the stack. "
                "Fix: add the backup component for it.",
                database.urn,
            )
        elif not any(dumps.values()):
            names = ", ".join(f"'{backup.name}'" for backup in backups)
            report(
                f"database service '{database.name}': backup service {names} mounts no backups volume of its "
                "own (a docker.Volume of this stack, not the database's), so the dumps share the data's "
                "fate. Fix: mount the stack's backups volume (type volume) in the backup service.",
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
        prohibits="Every database needs a backup service that mounts a backups volume of its own in the same "
        "stack: data without an automated backup is data waiting to be lost.",
        reference="OWASP ASVS V14.1 (backups); CIS Controls 11",
        severity=Severity.MEDIUM,
    ),
]
