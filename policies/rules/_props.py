"""Reading resource properties the way every rule needs them: plain data, unknowns explicit, labels and roles.

The analyzer hands rules its inputs wrapped in pulumi-policy's unknown-checking proxies, which raise
`UnknownValueError` on the first access to a value that is unknown during a preview. Raised from a stack rule
that would abort the whole rule for every resource, so rules work on `plain()` data instead, where an unknown
value is the `UNKNOWN` marker and each rule decides locally what an unknown means (usually: skip that value;
`pulumi up` runs the rules again with the values known).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pulumi_policy import PolicyResource, ResourceValidationArgs
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
)

CONTAINER: Final = "docker:index/container:Container"
SERVICE: Final = "docker:index/service:Service"
SECRET: Final = "docker:index/secret:Secret"  # noqa: S105 - a type token
SERVICE_CONFIG: Final = "docker:index/serviceConfig:ServiceConfig"
IMAGE: Final = "docker:index/image:Image"
REMOTE_IMAGE: Final = "docker:index/remoteImage:RemoteImage"
NETWORK: Final = "docker:index/network:Network"
VOLUME: Final = "docker:index/volume:Volume"
PRIVATE_KEY: Final = "tls:index/privateKey:PrivateKey"
SELF_SIGNED_CERT: Final = "tls:index/selfSignedCert:SelfSignedCert"
LOCALLY_SIGNED_CERT: Final = "tls:index/locallySignedCert:LocallySignedCert"

ROLE_LABEL: Final = "pap.role"
# pap.role values of the data tier: they hold or copy the platform's data (the backups: pgBackRest's local
# repository and its off-host one).
DATA_TIER_ROLES: Final = ("database", "cache", "backup", "backup-offsite")
LOCAL_REPOSITORY_ROLE: Final = "backup"  # pgBackRest's repository 1: the database's node, the data network
OFFSITE_REPOSITORY_ROLE: Final = "backup-offsite"  # repository 2: another node, its own volume and network
DATA_NODE_CONSTRAINT: Final = "node.labels.pap.data == true"  # the data tier's node (and its volumes)
OFFSITE_NODE_CONSTRAINT: Final = "node.labels.pap.offsite == true"  # the off-host repository's node
# An unlabelled service running one of these images is the data tier all the same.
DATA_TIER_IMAGE: Final = re.compile(r"(^|/)(postgres|redis|valkey|mysql|mariadb|mongo)([:@]|$)")

# The sentinels the engine sends for values unknown during a preview (pulumi_policy.proxy).
_UNKNOWN_SENTINELS: Final = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)
_PROXY_TARGET: Final = "__target"


class Unknown:
    """A value the engine cannot know during a preview (computed from another resource's outputs)."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN: Final = Unknown()


def is_unknown(value: object) -> bool:
    return value is UNKNOWN


def plain(value: Any) -> Any:
    """Deep copy of `value` without pulumi-policy's proxies; unknown sentinels become `UNKNOWN`."""
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        # The proxies hand out their raw target under this key (pulumi-policy's own serializer relies on it),
        # which is the only way to see an unknown value without raising.
        raw = value[_PROXY_TARGET] if _is_proxy(value) else value
        return {key: plain(item) for key, item in raw.items()}
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        raw_items = value[_PROXY_TARGET] if _is_proxy(value) else value  # type: ignore[call-overload]
        return [plain(item) for item in raw_items]
    return value


def _is_proxy(value: object) -> bool:
    return type(value).__module__ == "pulumi_policy.proxy"


def _unwrapped(value: Any) -> Any:
    """One level of `value` without its proxy (its children may still be proxies)."""
    return value[_PROXY_TARGET] if _is_proxy(value) else value


@dataclass(frozen=True)
class Resource:
    """One resource as the rules see it: type token, URN, logical name and its input properties.

    The inputs are kept as the analyzer passed them; `get` and `at` return plain copies of just the part read
    (converting a whole service's inputs for each of thirty rules was a fifth of the analysis time).
    """

    type: str
    urn: str
    name: str
    raw: Mapping[str, Any] = field(default_factory=dict)
    dependencies: tuple[str, ...] = ()

    @classmethod
    def of(cls, args: ResourceValidationArgs | PolicyResource) -> Resource:
        dependencies = tuple(dep.urn for dep in getattr(args, "dependencies", None) or ())
        return cls(args.resource_type, args.urn, args.name, _unwrapped(args.props), dependencies)

    def get(self, key: str) -> Any:
        return plain(self.raw.get(key))

    def at(self, *keys: str) -> Any:
        """The nested input at `keys` (wire names): UNKNOWN if it or a level above is, None if absent."""
        return plain(dig(self.raw, *keys))

    def spec(self, *keys: str) -> Any:
        """A Service's `taskSpec.containerSpec` input at `keys` (the container part of a Swarm service)."""
        return self.at("taskSpec", "containerSpec", *keys)

    def label(self, key: str) -> str | Unknown | None:
        """A label's value (pulumi-docker gives labels as a list of {label, value}); UNKNOWN if it cannot "
        "be known."""
        labels = self.get("labels")
        if is_unknown(labels):
            return UNKNOWN
        for entry in labels if isinstance(labels, list) else []:
            if not isinstance(entry, dict) or is_unknown(entry.get("label")):
                return UNKNOWN  # this entry might be the one asked for
            if entry.get("label") == key:
                value = entry.get("value")
                return value if isinstance(value, str | Unknown) else None
        return None

    @property
    def role(self) -> str | Unknown | None:
        return self.label(ROLE_LABEL)

    def describe(self) -> str:
        """How messages name the resource: its kind and logical name."""
        return f"{self.type.rsplit(':', 1)[-1].lower()} '{self.name}'"


def dig(value: Any, *keys: str) -> Any:
    """`value[k1][k2]...`: UNKNOWN as soon as a level is unknown, None when a level is absent or no object.

    Works on plain data and on the analyzer's proxies alike (what it returns may still be proxied).
    """
    for key in keys:
        value = _unwrapped(value)
        if is_unknown(value) or (isinstance(value, str) and value in _UNKNOWN_SENTINELS):
            return UNKNOWN
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def service_of(args: ResourceValidationArgs) -> Resource | None:
    """The resource a resource rule judges, if it is a Swarm service."""
    return Resource.of(args) if args.resource_type == SERVICE else None


def services(resources: Iterable[PolicyResource]) -> list[Resource]:
    """The Swarm services among a stack's resources."""
    return [resource for resource in map(Resource.of, resources) if resource.type == SERVICE]


def dicts(value: Any) -> Iterator[dict[str, Any]]:
    """The dict items of a list property; unknown or absent lists and unknown items yield nothing."""
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def joined_networks(service: Resource) -> Iterator[str]:
    """The known names (or IDs) of the networks a service's tasks join."""
    for network in dicts(service.at("taskSpec", "networksAdvanceds")):
        name = network.get("name")
        if isinstance(name, str):
            yield name


def role_of(service: Resource) -> str | Unknown | None:
    """pap.role, or "database" for an unlabelled service that runs a well-known database image."""
    if service.role is not None:
        return service.role
    image = text(service.spec("image")) or ""
    return "database" if DATA_TIER_IMAGE.search(image) else None


def internal_networks(resources: Iterable[PolicyResource]) -> dict[str, bool]:
    """The stack's docker.Network resources: name (physical; logical as a fallback) -> whether internal."""
    internal: dict[str, bool] = {}
    for resource in map(Resource.of, resources):
        if resource.type != NETWORK:
            continue
        is_internal = resource.get("internal") is True
        internal[resource.name] = is_internal
        physical = text(resource.get("name"))
        if physical:
            internal[physical] = is_internal
    return internal


def volume_mounts(service: Resource) -> set[str]:
    """The known sources of a service's `type: volume` mounts (volume names)."""
    return {
        source
        for mount in dicts(service.spec("mounts"))
        if mount.get("type") == "volume" and (source := text(mount.get("source")))
    }


def has_unknown_items(value: Any) -> bool:
    """Whether a list property, or one of its items, is unknown (so what it holds cannot be judged)."""
    return is_unknown(value) or (isinstance(value, list) and any(is_unknown(item) for item in value))


def strings(value: Any) -> list[str]:
    """The known strings of a list property."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def config_value(config: Mapping[str, Any] | None, key: str, default: Any) -> Any:
    """A policy config property; the analyzer passes None when the stack's config file says nothing."""
    if config and key in config:
        return config[key]
    return default


def uid_of(user: str) -> str:
    """The UID part of a `user` value (`"10001:0"` -> `"10001"`)."""
    return user.split(":", 1)[0].strip()
