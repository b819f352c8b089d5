"""Where services are reachable: networks they join, ports they publish, one ingress, an isolated data tier.

Swarm publishes a port in `ingress` mode by default: the routing mesh then listens on every interface of
every node and no address can be given. The platform publishes in `host` mode only, where the engine binds
the port on docker_gwbridge's host binding address (the program checks that address; CIS 5.14).
"""

from __future__ import annotations

from pulumi_policy import ResourceValidationArgs, Severity, StackValidationArgs

from ._policy import Report, resource_policy, stack_policy
from ._props import (
    DATA_TIER_ROLES,
    OFFSITE_REPOSITORY_ROLE,
    Resource,
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
    text,
)
from .backups import stores_in_object_store

HOST_NETWORK = "host"
DEFAULT_BRIDGE_NAMES = ("bridge", "default")
HOST_PUBLISH_MODE = "host"
DEFAULT_INGRESS_ROLE = "proxy"


def published_ports(service: Resource) -> list[dict[str, object]]:
    return list(dicts(service.at("endpointSpec", "ports")))


def _port(value: object) -> str:
    port = number(value)
    return str(int(port)) if port is not None else "?"


def service_no_host_network(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is not None and HOST_NETWORK in joined_networks(service):
        report(
            f"service '{service.name}' joins the \"host\" network (taskSpec.networksAdvanceds): its tasks "
            "see every interface of the node and bypass the overlay's isolation. Fix: join the stack's "
            "overlay networks instead."
        )


def service_not_default_bridge(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is None or has_unknown_items(service.at("taskSpec", "networksAdvanceds")):
        return
    networks = list(joined_networks(service))
    on_bridge = [name for name in networks if name in DEFAULT_BRIDGE_NAMES]
    if not networks or on_bridge:
        where = f"joins {', '.join(on_bridge)}" if on_bridge else "joins no network"
        report(
            f"service '{service.name}' {where}, so its tasks sit on the engine's default bridge, where every "
            "container can reach them. Fix: join the stack's overlay networks in taskSpec.networksAdvanceds."
        )


def service_no_privileged_host_ports(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is None:
        return
    for port in published_ports(service):
        published = number(port.get("publishedPort"))
        if published is not None and 0 < published < 1024:
            report(
                f"service '{service.name}' publishes port {int(published)}, a privileged port. Fix: "
                "endpointSpec.ports[].publishedPort >= 1024 and let a front proxy or firewall map 80/443."
            )


def service_ports_host_mode(args: ResourceValidationArgs, report: Report) -> None:
    service = service_of(args)
    if service is None:
        return
    for port in published_ports(service):
        mode = port.get("publishMode")
        if is_unknown(mode) or mode == HOST_PUBLISH_MODE:
            continue
        shown = text(mode) or 'unset, so "ingress"'
        report(
            f"service '{service.name}' publishes port {_port(port.get('publishedPort'))} (target "
            f"{_port(port.get('targetPort'))}) with publishMode {shown}: the routing mesh listens on every "
            'interface of every node and cannot be bound to one address. Fix: publishMode "host" (the '
            "engine binds it on docker_gwbridge's host binding address)."
        )


def _outside_problem(
    role: str, network: str, outside: list[str], internal: dict[str, bool], object_store: bool | None
) -> str:
    """Why a data-tier service's network that is not internal is refused, and the fix."""
    if role != OFFSITE_REPOSITORY_ROLE:
        return (
            "the data tier is reachable from outside. Fix: attach it only to the stack's internal networks "
            "(data, or offsite for the off-host repository)."
        )
    if object_store is False:
        return (
            "the data tier is reachable from outside, and its pgBackRest config keeps its repository in no "
            "object store (repoN-type s3, gcs or azure), so it needs no way out. Fix: attach it only to the "
            "stack's internal offsite network (an egress network comes with backup.offsite.type s3 only)."
        )
    if network not in internal:
        why = "which this stack does not declare"
    else:
        joined = ", ".join(f"'{name}'" for name in outside)
        why = f"and it joins {len(outside)} such networks ({joined})"
    return (
        "the data tier is reachable from outside. An off-host repository in an object store may join one "
        f"non-internal Network of this stack, its egress to the endpoint, {why}. Fix: attach it to the "
        "stack's internal offsite network and its one egress network (nothing else on it)."
    )


def data_tier_internal_networks_only(args: StackValidationArgs, report: Report) -> None:
    internal = internal_networks(args.resources)
    for service in services(args.resources):
        role = role_of(service)
        if not isinstance(role, str) or role not in DATA_TIER_ROLES:
            continue
        outside = [network for network in joined_networks(service) if not internal.get(network, False)]
        if not outside:
            continue
        # pgBackRest writing to S3, GCS or Azure must reach the endpoint: one way out of this stack's own.
        # None: a preview cannot read its config yet (`pulumi up` checks again).
        object_store = (
            stores_in_object_store(service, args.resources) if role == OFFSITE_REPOSITORY_ROLE else False
        )
        if object_store is not False and len(outside) == 1 and outside[0] in internal:
            continue
        for network in outside:
            problem = _outside_problem(role, network, outside, internal, object_store)
            report(
                f"{role} service '{service.name}' joins network '{network}', which is not a Network of this "
                f"stack with internal: true, so {problem}",
                service.urn,
            )


def data_tier_publishes_nothing(args: StackValidationArgs, report: Report) -> None:
    for service in services(args.resources):
        role = role_of(service)
        if role in DATA_TIER_ROLES and published_ports(service):
            report(
                f"{role} service '{service.name}' publishes ports (endpointSpec.ports). Fix: remove them; "
                "the backends reach it over the internal network (`docker exec` into its task to manage it).",
                service.urn,
            )


def _publishing_unknown(service: Resource) -> bool:
    return is_unknown(service.role) or has_unknown_items(service.at("endpointSpec", "ports"))


def single_ingress(args: StackValidationArgs, report: Report) -> None:
    ingress_role = config_value(args.get_config(), "ingressRole", DEFAULT_INGRESS_ROLE)
    declared = services(args.resources)
    if not declared or any(_publishing_unknown(service) for service in declared):
        return  # a preview cannot tell who publishes; `pulumi up` checks again with the values known
    publishers = [service for service in declared if published_ports(service)]
    if not publishers:
        anchor = next((service for service in declared if service.role == ingress_role), declared[0])
        report(
            f"no service publishes a port, so the platform is unreachable. Fix: publish the {ingress_role} "
            f"service's ports ('{anchor.name}', endpointSpec.ports).",
            anchor.urn,
        )
        return
    proxies = [service for service in publishers if service.role == ingress_role]
    for service in publishers:
        if service.role != ingress_role or len(proxies) > 1:
            report(
                f"service '{service.name}' (role {service.role or 'unlabelled'}) publishes ports besides the "
                f"one ingress; {len(publishers)} services publish. Fix: publish only the {ingress_role} "
                "service's ports and route everything through it.",
                service.urn,
            )


POLICIES = [
    resource_policy(
        "service-no-host-network",
        service_no_host_network,
        prohibits='The "host" network is prohibited: the task would see every interface of the node.',
        reference="CIS Docker 5.10",
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "service-not-default-bridge",
        service_not_default_bridge,
        prohibits="Services must join user-defined (overlay) networks: with none, or on the default bridge, "
        "every container of the engine can reach their tasks.",
        reference="CIS Docker 5.30 (network isolation)",
        severity=Severity.MEDIUM,
    ),
    resource_policy(
        "service-no-privileged-host-ports",
        service_no_privileged_host_ports,
        prohibits="Publishing on privileged ports (< 1024) is prohibited.",
        reference="CIS Docker 5.9",
        severity=Severity.MEDIUM,
    ),
    resource_policy(
        "service-ports-host-mode",
        service_ports_host_mode,
        prohibits='Published ports must use publishMode "host": the default "ingress" mode listens on every '
        "interface of every node, and a published port must be bound to one interface.",
        reference="CIS Docker 5.14",
    ),
    stack_policy(
        "data-tier-internal-networks-only",
        data_tier_internal_networks_only,
        prohibits="Database, cache and backup (both repositories) services may join only networks declared "
        "with internal: true: the data tier must not be reachable from the host or the edge network. The one "
        "exception: an off-host repository whose pgBackRest repository is an object store (repoN-type s3, "
        "gcs or azure) may also join one non-internal network of the stack, its egress to the endpoint.",
        reference="OWASP Docker Security Cheat Sheet rule 5 (network segmentation); CIS Docker 5.30",
        severity=Severity.CRITICAL,
    ),
    stack_policy(
        "data-tier-publishes-nothing",
        data_tier_publishes_nothing,
        prohibits="Database, cache and backup (both repositories) services must publish no port: a "
        "published database port is the classic data breach (neither Checkov nor KICS checks it).",
        reference="CIS Docker 5.8; OWASP Docker Security Cheat Sheet rule 5",
        severity=Severity.CRITICAL,
    ),
    stack_policy(
        "single-ingress",
        single_ingress,
        prohibits="Exactly one ingress service (the TLS proxy) may publish ports; every other entry point "
        "bypasses TLS, headers and rate limits.",
        reference="CIS Docker 5.8; OWASP ASVS V14.4",
        config={"ingressRole": {"type": "string", "default": DEFAULT_INGRESS_ROLE}},
    ),
]
