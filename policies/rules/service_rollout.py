"""How Swarm replaces, rolls back, replicates and places services: a failed release must not stay deployed.

An update that Swarm rolls back or pauses fails the deploy (the provider's convergeConfig waits for it), so
`failureAction: rollback` turns a broken release into a failed `pulumi up` with the old tasks still serving.
"""

from __future__ import annotations

import re

from pulumi_policy import ResourceValidationArgs, Severity

from ._policy import Report, resource_policy
from ._props import (
    DATA_NODE_CONSTRAINT,
    DATA_TIER_ROLES,
    OFFSITE_NODE_CONSTRAINT,
    OFFSITE_REPOSITORY_ROLE,
    Resource,
    config_value,
    dicts,
    has_unknown_items,
    is_unknown,
    number,
    service_of,
    strings,
    text,
)
from .service_network import HOST_PUBLISH_MODE, published_ports

ROLLBACK = "rollback"
START_FIRST = "start-first"
STOP_FIRST = "stop-first"  # Swarm's default order
DEFAULT_STATELESS_ROLES = ["backend", "web"]
DEFAULT_MIN_REPLICAS = 1
NODE_LABEL_CONSTRAINT = re.compile(r"^\s*node\.labels\.[A-Za-z0-9_.-]+\s*==\s*\S+\s*$")
_ROLES_CONFIG = {
    "statelessRoles": {
        "type": "array",
        "items": {"type": "string"},
        "default": DEFAULT_STATELESS_ROLES,
        "description": "pap.role values of services that keep no state, so old and new tasks may overlap.",
    }
}


def _stateless(args: ResourceValidationArgs, service: Resource) -> bool:
    roles = config_value(args.get_config(), "statelessRoles", DEFAULT_STATELESS_ROLES)
    return isinstance(service.role, str) and service.role in roles


def service_update_rollback(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is None:
        return
    action = service.at("updateConfig", "failureAction")
    if is_unknown(action) or action == ROLLBACK:
        return
    shown = text(action) or 'unset, so "pause"'
    report(
        f"service '{service.name}' has updateConfig.failureAction {shown}: a release whose tasks fail "
        '"pause" leaves the update half done, "continue" rolls the failure out to every task. Fix: '
        'updateConfig { failureAction: "rollback", monitor } so Swarm restores the previous spec.'
    )


def stateless_service_start_first(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is None or not _stateless(args, service):
        return
    update_order = service.at("updateConfig", "order")
    rollback = service.get("rollbackConfig")
    rollback_order = service.at("rollbackConfig", "order")
    problems = []
    if not is_unknown(update_order) and update_order != START_FIRST:
        problems.append(f"updateConfig.order is {text(update_order) or 'unset, so stop-first'}")
    rollback_known = not (is_unknown(rollback) or is_unknown(rollback_order))
    if rollback_known and not isinstance(rollback, dict):
        problems.append("it has no rollbackConfig")
    elif rollback_known and rollback_order != START_FIRST:
        problems.append(f"rollbackConfig.order is {text(rollback_order) or 'unset, so stop-first'}")
    if problems:
        report(
            f"stateless service '{service.name}' (role {service.role}): {'; '.join(problems)}, so an update "
            "or a rollback stops the serving task before its replacement is healthy. Fix: updateConfig "
            '{ order: "start-first" } and rollbackConfig { order: "start-first", parallelism: 1, monitor }.'
        )


def _exclusive_reason(service: Resource) -> str | None:
    """Why two tasks of this service must never run at once, or None."""
    volumes = [
        text(mount.get("source")) or "?"
        for mount in dicts(service.spec("mounts"))
        if mount.get("type") == "volume"
    ]
    if volumes:
        return f"it mounts volume {', '.join(volumes)} (two writers on one volume)"
    if any(port.get("publishMode") == HOST_PUBLISH_MODE for port in published_ports(service)):
        return "it publishes a host-mode port (one task per node can bind it)"
    return None


def exclusive_service_stop_first(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is None or has_unknown_items(service.spec("mounts")):
        return
    reason = _exclusive_reason(service)
    if reason is None:
        return
    for key in ("updateConfig", "rollbackConfig"):
        order = service.at(key, "order")
        if order == START_FIRST:
            report(
                f"service '{service.name}' has {key}.order start-first although {reason}: the new task "
                "starts while the old one still holds it, and corrupts the data or never starts. Fix: "
                f'{key} {{ order: "stop-first" }}.'
            )


def stateless_service_replicated(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is None or not _stateless(args, service):
        return
    mode = service.get("mode")
    replicas = service.at("mode", "replicated", "replicas")
    if is_unknown(mode) or is_unknown(replicas) or service.at("mode", "global") is True:
        return  # a global service runs one task per node
    minimum = int(
        number(config_value(args.get_config(), "minReplicas", DEFAULT_MIN_REPLICAS)) or DEFAULT_MIN_REPLICAS
    )
    count = int(number(replicas) or 0) if replicas is not None else 1  # Swarm's default is one replica
    if count < minimum:
        report(
            f"stateless service '{service.name}' (role {service.role}) runs {count} replica(s); this stack "
            f"requires at least {minimum} (minReplicas), so a single task's crash or node failure is an "
            f"outage. Fix: mode {{ replicated: {{ replicas: {minimum} }} }} (the stack's backend.replicas)."
        )


def data_service_pinned(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is None or service.role not in DATA_TIER_ROLES:
        return
    constraints = service.at("taskSpec", "placement", "constraints")
    if has_unknown_items(constraints):
        return
    if not any(NODE_LABEL_CONSTRAINT.match(constraint) for constraint in strings(constraints)):
        label = OFFSITE_NODE_CONSTRAINT if service.role == OFFSITE_REPOSITORY_ROLE else DATA_NODE_CONSTRAINT
        report(
            f"{service.role} service '{service.name}' has no node-label placement constraint, so Swarm may "
            "reschedule it on a node that lacks its local volume and start it on empty data. Fix: "
            f'taskSpec.placement.constraints ["{label}"] (and label that node).'
        )


POLICIES = [
    resource_policy(
        "service-update-rollback",
        service_update_rollback,
        prohibits='Every service must roll back a failed update (updateConfig.failureAction "rollback"): '
        'the default "pause" leaves a half-updated service, "continue" deploys the failure everywhere. The '
        "data tier too: its stop-first update has already stopped the old task, so pausing leaves it down, "
        "while a rollback restarts the previous spec on the same volume.",
        reference="NIST SP 800-53 CM-3 (configuration change control), CP-10 (recovery)",
    ),
    resource_policy(
        "stateless-service-start-first",
        stateless_service_start_first,
        prohibits='Stateless services (backend, web) must update and roll back "start-first" with a '
        "rollbackConfig: the new task is healthy before the old one stops, so a release costs no downtime.",
        reference="NIST SP 800-53 CM-3, CP-10; Docker Swarm rolling updates",
        severity=Severity.MEDIUM,
        config=_ROLES_CONFIG,
    ),
    resource_policy(
        "exclusive-service-stop-first",
        exclusive_service_stop_first,
        prohibits='Services that mount a volume or publish a host-mode port may not update "start-first": '
        "old and new task would run at once, two writers on one volume or two binds of one port.",
        reference="NIST SP 800-53 SI-7 (information integrity)",
    ),
    resource_policy(
        "stateless-service-replicated",
        stateless_service_replicated,
        prohibits="Stateless services must run at least minReplicas tasks (prod: 2): one task is a single "
        "point of failure and makes every restart an outage.",
        reference="NIST SP 800-53 SC-36 (distributed processing), CP-10",
        severity=Severity.MEDIUM,
        config={
            **_ROLES_CONFIG,
            "minReplicas": {"type": "integer", "minimum": 1, "default": DEFAULT_MIN_REPLICAS},
        },
    ),
    resource_policy(
        "data-service-pinned",
        data_service_pinned,
        prohibits="Database, cache and backup (local and off-host repository) services must be pinned by "
        "a node-label placement constraint (node.labels.<x> == <y>): their volumes are local to one node, "
        "and a task rescheduled elsewhere starts on an empty volume.",
        reference="NIST SP 800-53 CP-10 (recovery), SI-7 (integrity)",
    ),
]
