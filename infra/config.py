"""The stack configuration: one typed model that validates all of it before any resource is declared."""

from __future__ import annotations

import json
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

PROJECT = "presentation-analytics"
HOSTNAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
IMAGE_ID_PATTERN = r"^sha256:[0-9a-f]{64}$"


class ConfigError(ValueError):
    """The stack configuration is invalid; the message names the stack, the key and what is allowed."""


class _Model(BaseModel):
    # camelCase keys in Pulumi.<stack>.yaml, snake_case attributes in Python; unknown keys are typos.
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, strict=False
    )


class Limits(_Model):
    """The most a service's task may take of its node (CIS 5.11 / 5.12)."""

    memory_mb: int = Field(ge=32, le=65536)
    cpus: float = Field(gt=0, le=64)


class Reservations(_Model):
    """What the scheduler sets aside for each task: a node without it free gets no task."""

    memory_mb: int = Field(ge=0, le=65536)
    cpus: float = Field(ge=0, le=64)


class ServiceResources(_Model):
    """Limits and reservations of one Swarm service; a reservation above its limit could never run."""

    limits: Limits = Limits(memory_mb=512, cpus=1.0)
    reservations: Reservations | None = None  # None: a quarter of the memory limit, a tenth of the CPUs

    @property
    def reserved(self) -> Reservations:
        if self.reservations is not None:
            return self.reservations
        # CPU is reserved thinly: a start-first update runs one extra task, and a reservation the node
        # cannot grant leaves that task pending and stalls the rollout.
        return Reservations(memory_mb=self.limits.memory_mb // 4, cpus=round(self.limits.cpus / 10, 3))

    @model_validator(mode="after")
    def _reservations_within_limits(self) -> ServiceResources:
        reserved = self.reserved
        if reserved.memory_mb > self.limits.memory_mb or reserved.cpus > self.limits.cpus:
            raise ValueError(
                f"reservations ({reserved.memory_mb} MB, {reserved.cpus:g} CPUs) must not exceed "
                f"limits ({self.limits.memory_mb} MB, {self.limits.cpus:g} CPUs)"
            )
        return self


class BackendConfig(ServiceResources):
    replicas: int = Field(default=1, ge=1, le=10)
    workers: int = Field(default=1, ge=1, le=16)
    environment: Literal["development", "production"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    docs_enabled: bool = True
    cors_origins: tuple[str, ...] = ()
    db_pool_size: int = Field(default=10, ge=1, le=100)
    bootstrap_admin_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    # PDF decks: the largest upload (the backends' PAP_DECK_MAX_BYTES and the proxy's body limit on the
    # upload route) and the most pages.
    deck_max_mb: int = Field(default=50, ge=1, le=1024)
    deck_max_pages: int = Field(default=300, ge=1, le=500)
    limits: Limits = Limits(memory_mb=512, cpus=1.0)

    @property
    def deck_render_memory_mb(self) -> int:
        """What one render may take: half the task's memory, so a hostile PDF's child dies, not the task."""
        return max(128, self.limits.memory_mb // 2)


def backend_connections(backend: BackendConfig) -> int:
    """The most connections the backends can hold: every worker of every task (one extra task during a
    start-first update) with a full pool plus SQLAlchemy's default overflow of 10, and a few for the rest."""
    return (backend.replicas + 1) * backend.workers * (backend.db_pool_size + 10) + 10


class WebConfig(ServiceResources):
    """The web frontend (Next.js): stateless, replicated and rolled start-first like the backends."""

    replicas: int = Field(default=1, ge=1, le=10)
    limits: Limits = Limits(memory_mb=256, cpus=0.5)

    @property
    def heap_mb(self) -> int:
        """V8's old-space ceiling, half the task's memory: Node 18 does not size its heap from the task's
        limit, so without it the heap grows until the kernel kills the task instead of collecting."""
        return self.limits.memory_mb // 2


class DatabaseConfig(ServiceResources):
    name: str = Field(default="pap", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    user: str = Field(default="pap", pattern=r"^[a-z][a-z0-9_]{0,62}$")  # owner: migrations and backups
    app_user: str = Field(default="pap_app", pattern=r"^[a-z][a-z0-9_]{0,62}$")  # the backends: rows only
    # Fixed, not derived from backend.replicas: scaling the backends must not restart PostgreSQL.
    max_connections: int = Field(default=200, ge=20, le=5000)
    limits: Limits = Limits(memory_mb=512, cpus=1.0)

    @model_validator(mode="after")
    def _distinct_users(self) -> DatabaseConfig:
        if self.app_user == self.user:
            raise ValueError(f"appUser must differ from user (both are {self.user!r}): backends get no DDL")
        return self


class CacheConfig(ServiceResources):
    persistence: Literal["none", "rdb", "aof"] = "none"
    limits: Limits = Limits(memory_mb=128, cpus=0.5)

    @property
    def maxmemory_mb(self) -> int:
        """Redis' own ceiling, below the container limit: eviction happens before the OOM killer."""
        return max(16, self.limits.memory_mb * 3 // 4)


class ProxyConfig(ServiceResources):
    bind_address: IPv4Address = IPv4Address("127.0.0.1")
    https_port: int = Field(default=8443, ge=1, le=65535)
    http_port: int = Field(default=8080, ge=1, le=65535)
    server_names: tuple[Annotated[str, Field(pattern=HOSTNAME_PATTERN, max_length=253)], ...] = Field(
        default=("localhost",), min_length=1
    )
    client_max_body_size_mb: int = Field(default=10, ge=1, le=1024)
    limits: Limits = Limits(memory_mb=128, cpus=0.5)

    @model_validator(mode="after")
    def _distinct_ports(self) -> ProxyConfig:
        if self.https_port == self.http_port:
            raise ValueError(f"httpsPort and httpPort must differ (both are {self.https_port})")
        return self


class ProvidedCertificate(_Model):
    """A certificate issued elsewhere (prod); must be set with `pulumi config set --secret`."""

    certificate_pem: str = Field(pattern=r"-----BEGIN CERTIFICATE-----")
    private_key_pem: str = Field(pattern=r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
    ca_certificate_pem: str | None = Field(default=None, pattern=r"-----BEGIN CERTIFICATE-----")


class TlsConfig(_Model):
    profile: Literal["intermediate", "modern"] = "intermediate"
    algorithm: Literal["ECDSA-P256", "ECDSA-P384", "RSA-2048", "RSA-3072", "RSA-4096"] = "ECDSA-P256"
    validity_days: int = Field(default=90, ge=1, le=366)
    early_renewal_days: int = Field(default=30, ge=1, le=365)
    ca_validity_days: int = Field(default=365, ge=1, le=3650)
    ip_addresses: tuple[IPv4Address | IPv6Address, ...] = (IPv4Address("127.0.0.1"),)
    provided_certificate: ProvidedCertificate | None = None

    @model_validator(mode="after")
    def _coherent(self) -> TlsConfig:
        if self.early_renewal_days >= self.validity_days:
            raise ValueError(
                f"earlyRenewalDays ({self.early_renewal_days}) must be less than "
                f"validityDays ({self.validity_days})"
            )
        if self.ca_validity_days < self.validity_days:
            raise ValueError(
                f"caValidityDays ({self.ca_validity_days}) must be at least "
                f"validityDays ({self.validity_days})"
            )
        if self.profile == "modern" and (not self.algorithm.startswith("ECDSA") or self.validity_days > 90):
            raise ValueError(
                "profile 'modern' needs an ECDSA algorithm (ECDSA-P256 or ECDSA-P384) and validityDays <= 90"
            )
        return self


class S3Repository(_Model):
    """An S3-compatible bucket as the off-host repository; the access key pair must be secret config."""

    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    endpoint: str = Field(pattern=HOSTNAME_PATTERN, max_length=253)
    region: str = Field(pattern=r"^[a-z0-9-]{1,32}$")
    uri_style: Literal["host", "path"] = "host"
    key: str = Field(min_length=1)
    key_secret: str = Field(min_length=1)


class OffsiteRepository(_Model):
    """The second repository, off the database's node: a repository service with its own volume and network
    (`posix`, on a node labelled `placement`), or an S3-compatible bucket that service writes to (`s3`)."""

    type: Literal["posix", "s3"] = "posix"
    placement: str = Field(
        default="node.labels.pap.offsite == true", pattern=r"^node\.[a-z.]+ *(==|!=) *\S+$"
    )
    s3: S3Repository | None = None

    @model_validator(mode="after")
    def _s3_settings(self) -> OffsiteRepository:
        if self.type == "s3" and self.s3 is None:
            raise ValueError("type 's3' needs s3.bucket, s3.endpoint, s3.region, s3.key and s3.keySecret")
        if self.type == "posix" and self.s3 is not None:
            raise ValueError("s3 settings are only read with type 's3' (type is 'posix')")
        return self


class BackupConfig(ServiceResources):
    """pgBackRest: WAL archived continuously to two repositories, scheduled backups, verify and drills."""

    # The most WAL (hence acknowledged writes) a lost database volume can take with it.
    archive_timeout_seconds: int = Field(default=60, ge=1, le=3600)
    # WAL waiting to be archived beyond this is dropped (and logged) rather than fill the database's volume
    # while a repository is unreachable: the database keeps running, PITR has a gap until the next backup.
    archive_queue_max_mb: int = Field(default=4096, ge=64, le=1048576)
    full_interval_hours: int = Field(default=168, ge=1, le=8760)
    diff_interval_hours: int = Field(default=24, ge=1, le=8760)
    retention_full: int = Field(default=2, ge=1, le=100)  # full backups kept per repository, with their WAL
    retention_diff: int = Field(default=7, ge=1, le=1000)
    verify_interval_hours: int = Field(default=24, ge=1, le=720)
    drill_interval_hours: int = Field(default=0, ge=0, le=720)  # 0: the restore drill runs on demand only
    offsite: OffsiteRepository = OffsiteRepository()
    limits: Limits = Limits(memory_mb=256, cpus=0.5)

    @model_validator(mode="after")
    def _diff_within_full(self) -> BackupConfig:
        if self.diff_interval_hours > self.full_interval_hours:
            raise ValueError(
                f"diffIntervalHours ({self.diff_interval_hours}) must not exceed fullIntervalHours "
                f"({self.full_interval_hours})"
            )
        return self


class PromotionConfig(_Model):
    """Where the service and web images come from when this stack does not build them."""

    dev_stack: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$")
    pinned_image: str | None = Field(default=None, pattern=IMAGE_ID_PATTERN)  # the service image
    pinned_web_image: str | None = Field(default=None, pattern=IMAGE_ID_PATTERN)

    @model_validator(mode="after")
    def _pinned_together(self) -> PromotionConfig:
        if self.dev_stack is None and (self.pinned_image is None) != (self.pinned_web_image is None):
            given, missing = (
                ("pinnedImage", "pinnedWebImage") if self.pinned_image else ("pinnedWebImage", "pinnedImage")
            )
            raise ValueError(
                f"{given} without devStack needs {missing} too: a stack that builds no image must get both "
                "the service and the web image from somewhere (pin both, or set devStack)"
            )
        return self


class NetworkConfig(_Model):
    # IPsec between nodes for the internal overlays (app, data); the edge carries only TLS already.
    encrypted: bool = True


class RotationConfig(_Model):
    """Bump a number to rotate that secret on the next `pulumi up` (a pulumi_random keeper)."""

    # Not the owner's password: PostgreSQL keeps the one initdb set (rotate it with ALTER ROLE by hand).
    database_app_password: int = Field(default=0, ge=0)
    redis_password: int = Field(default=0, ge=0)
    jwt_key: int = Field(default=0, ge=0)
    metrics_token: int = Field(default=0, ge=0)


class StackConfig(_Model):
    base_image: str = Field(default="debian:bookworm-slim", pattern=r"^[a-z0-9][a-z0-9._/:@-]*$")
    backend: BackendConfig = BackendConfig()
    web: WebConfig = WebConfig()
    database: DatabaseConfig = DatabaseConfig()
    cache: CacheConfig = CacheConfig()
    proxy: ProxyConfig = ProxyConfig()
    tls: TlsConfig = TlsConfig()
    backup: BackupConfig = BackupConfig()
    promotion: PromotionConfig = PromotionConfig()
    network: NetworkConfig = NetworkConfig()
    rotation: RotationConfig = RotationConfig()

    @model_validator(mode="after")
    def _connections_suffice(self) -> StackConfig:
        needed = backend_connections(self.backend)
        if needed > self.database.max_connections:
            backend = self.backend
            raise ValueError(
                f"database.maxConnections ({self.database.max_connections}) is below what the backends may "
                f"open ({needed} = (backend.replicas {backend.replicas} + 1 during a rolling update) x "
                f"backend.workers {backend.workers} x (backend.dbPoolSize {backend.db_pool_size} + 10 "
                f"overflow) + 10 for the migration and backups): raise database.maxConnections to {needed} "
                "or more"
            )
        return self

    @property
    def builds_app_images(self) -> bool:
        """A promoted stack deploys the service and web images another stack built; it builds neither."""
        promotion = self.promotion
        pinned = (promotion.pinned_image, promotion.pinned_web_image)
        return promotion.dev_stack is None and pinned == (None, None)


def _decode(value: Any) -> Any:
    # The CLI hands objects and lists over as JSON text and scalars as strings; pydantic's lax mode
    # turns "3" into 3 and "true" into True.
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _allowed_keys(model: type[BaseModel], location: tuple[str | int, ...]) -> list[str]:
    """The keys a mapping at `location` (camelCase path) accepts, to suggest the fix for a typo."""
    current: type[BaseModel] | None = model
    for part in location:
        if current is None or isinstance(part, int):
            return []
        field = next(
            (f for name, f in current.model_fields.items() if part in (name, f.alias)),
            None,
        )
        annotation = field.annotation if field else None
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    if current is None:
        return []
    return sorted(f.alias or name for name, f in current.model_fields.items())


def _describe(error: Any, stack: str) -> str:
    location = tuple(error["loc"])
    key = ".".join(str(part) for part in location) or "(root)"
    prefix = f"stack '{stack}': {PROJECT}:{key}"
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(StackConfig, location[:-1]))
        return f"{prefix}: unknown key; allowed keys here: {allowed}"
    got = error.get("input")
    got_text = "" if isinstance(got, dict) else f" (got {got!r})"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{prefix}: {message}{got_text}"


def validate_stack_config(stack: str, raw: Mapping[str, Any], secret_keys: frozenset[str]) -> StackConfig:
    """Validates the project-namespace config of `stack` (keys without the namespace); raises ConfigError."""
    decoded = {key: _decode(value) for key, value in raw.items()}
    try:
        config = StackConfig.model_validate(decoded)
    except ValidationError as error:
        errors = error.errors()
        locations = [tuple(e["loc"]) for e in errors]
        # A container's error that only echoes a failure inside it (e.g. "0 items after validation") is noise.
        specific = [
            e
            for e in errors
            if not any(
                len(other) > len(e["loc"]) and other[: len(e["loc"])] == tuple(e["loc"])
                for other in locations
            )
        ]
        details = "\n".join(_describe(e, stack) for e in specific)
        raise ConfigError(f"invalid configuration for stack '{stack}':\n{details}") from None
    if config.backup.offsite.s3 is not None and "backup" not in secret_keys:
        raise ConfigError(
            f"invalid configuration for stack '{stack}':\n"
            f"stack '{stack}': {PROJECT}:backup.offsite.s3: "
            "holds the bucket's access key, so it must be set as a secret "
            "(pulumi config set --secret --path 'backup.offsite.s3.keySecret' ...)"
        )
    if config.tls.provided_certificate is not None and "tls" not in secret_keys:
        raise ConfigError(
            f"invalid configuration for stack '{stack}':\n"
            f"stack '{stack}': {PROJECT}:tls.providedCertificate: "
            "holds a private key, so it must be set as a secret "
            f"(pulumi config set --secret --path 'tls.providedCertificate.privateKeyPem' ...)"
        )
    return config


def project_config(all_config: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of the project's namespace, without the `presentation-analytics:` prefix."""
    prefix = f"{PROJECT}:"
    return {key[len(prefix) :]: value for key, value in all_config.items() if key.startswith(prefix)}


def load_stack_config(stack: str) -> StackConfig:
    """Reads the running program's config (the CLI passes it in PULUMI_CONFIG; mocks set it directly)."""
    from pulumi.runtime import config as runtime_config

    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    env_secret_keys = set(runtime_config.get_config_secret_keys_env())
    secret_keys = frozenset(
        key[len(PROJECT) + 1 :]
        for key in everything
        if key in env_secret_keys or runtime_config.is_config_secret(key)
    )
    return validate_stack_config(stack, project_config(everything), secret_keys)
