"""The service's settings: one typed class read from `PAP_*` environment variables.

Every secret `X` can also be given as `PAP_X_FILE` (a path whose content is the value, trailing newline
stripped); containers only use that form so secrets never appear in `docker inspect`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Self, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from limits import parse
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

# Only ever acceptable in development: production refuses to start with it.
DEVELOPMENT_SECRET_KEY = "development-only-secret-key-change-me"  # noqa: S105
MINIMUM_SECRET_KEY_LENGTH = 32

# Every secret setting; each also reads from `PAP_<NAME>_FILE`.
SECRET_SETTINGS: tuple[str, ...] = (
    "secret_key",
    "database_password",
    "redis_password",
    "metrics_token",
    "bootstrap_admin_password",
    "sentry_dsn",
)

CommaSeparated = Annotated[list[str], NoDecode]


def _read_secret_file(path: Path, setting: str) -> SecretStr:
    try:
        return SecretStr(path.read_text(encoding="utf-8").rstrip("\r\n"))
    except OSError as error:
        raise ValueError(f"PAP_{setting.upper()}_FILE: cannot read {path}: {error.strerror}") from error


class DatabaseSettings(BaseSettings):
    """What a database job reads (the migration): the login, nothing it does not need. A migration task gets
    no JWT key, Redis password or metrics token, so the serving checks of `Settings` do not apply to it."""

    model_config = SettingsConfigDict(env_prefix="PAP_", extra="ignore", case_sensitive=False)
    secret_settings: ClassVar[tuple[str, ...]] = ("database_password",)

    environment: Literal["development", "production"] = "development"
    debug: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    database_url: str = "sqlite:///./var/pap.db"
    database_password: SecretStr | None = None
    database_password_file: Path | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _load_secret_files(self) -> Self:
        for name in self.secret_settings:
            path: Path | None = getattr(self, f"{name}_file")
            if path is not None:
                setattr(self, name, _read_secret_file(path, name))
        return self

    @property
    def effective_log_level(self) -> str:
        """PAP_DEBUG only turns up log detail; nothing else changes (tracebacks never reach clients)."""
        return "DEBUG" if self.debug else self.log_level

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    @property
    def database_url_with_password(self) -> URL:
        """The SQLAlchemy URL with the password setting put in (the URL itself never carries one)."""
        url = make_url(self.database_url)
        if self.database_password is not None:
            url = url.set(password=self.database_password.get_secret_value())
        return url


class Settings(DatabaseSettings):
    """Everything the service reads from its environment; names are documented in docs/ARCHITECTURE.md."""

    secret_settings: ClassVar[tuple[str, ...]] = SECRET_SETTINGS

    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET_KEY)
    secret_key_file: Path | None = None

    db_pool_size: int = Field(default=10, ge=1, le=200)

    redis_url: str | None = None
    redis_password: SecretStr | None = None
    redis_password_file: Path | None = None

    metrics_token: SecretStr | None = None
    metrics_token_file: Path | None = None

    allowed_hosts: CommaSeparated = ["localhost", "127.0.0.1", "testserver"]
    cors_origins: CommaSeparated = []
    docs_enabled: bool = True
    workers: int = Field(default=1, ge=1, le=64)
    port: int = Field(default=8000, ge=1, le=65535)
    forwarded_allow_ips: str = "127.0.0.1"
    session_idle: int = Field(default=300, ge=10, le=86_400)
    run_migrations: bool = True
    # Per-client API limit in `limits` notation, or "off" (benchmarks from one address); app.core.ratelimit
    api_rate_limit: str = "20/2 seconds"

    # PDF decks (app.services.decks): what an upload may be, and what rendering one may cost.
    deck_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    deck_max_pages: int = Field(default=300, ge=1, le=500)  # 500: MAX_SLIDES
    deck_render_timeout_seconds: int = Field(default=120, ge=1, le=3600)
    deck_render_memory_mb: int = Field(default=768, ge=128, le=16384)
    deck_render_concurrency: int = Field(default=1, ge=1, le=16)

    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: SecretStr | None = None
    bootstrap_admin_password_file: Path | None = None

    sentry_dsn: SecretStr | None = None
    sentry_dsn_file: Path | None = None

    @field_validator("allowed_hosts", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("api_rate_limit")
    @classmethod
    def _parse_api_rate_limit(cls, value: str) -> str:
        if value.strip().lower() == "off":
            return "off"
        try:
            parse(value)
        except ValueError as error:
            raise ValueError(f"not a rate limit like '20/2 seconds' or 'off': {error}") from None
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        if self.environment == "development":
            return self
        problems: list[str] = []
        key = self.secret_key.get_secret_value()
        if key == DEVELOPMENT_SECRET_KEY:
            problems.append("PAP_SECRET_KEY is the development default; set a random value")
        elif len(key) < MINIMUM_SECRET_KEY_LENGTH:
            problems.append(f"PAP_SECRET_KEY is shorter than {MINIMUM_SECRET_KEY_LENGTH} characters")
        if "*" in self.allowed_hosts or not self.allowed_hosts:
            problems.append("PAP_ALLOWED_HOSTS must list the served host names, not '*' or nothing")
        if "*" in self.cors_origins:
            problems.append("PAP_CORS_ORIGINS must list origins, not '*'")
        if self.debug:
            problems.append("PAP_DEBUG must be off")
        if problems:
            raise ValueError(f"refusing to start in {self.environment}: " + "; ".join(problems))
        return self

    @property
    def redis_url_with_password(self) -> str | None:
        if self.redis_url is None:
            return None
        if self.redis_password is None:
            return self.redis_url
        parts = urlsplit(self.redis_url)
        host = parts.netloc.rsplit("@", 1)[-1]
        netloc = f":{quote(self.redis_password.get_secret_value(), safe='')}@{host}"
        return urlunsplit(parts._replace(netloc=netloc))


SettingsT = TypeVar("SettingsT", bound=DatabaseSettings)


class SettingsError(RuntimeError):
    """The environment does not make valid settings; the message names each bad setting, never a value."""


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into one message without the input values (secrets)."""
    return _load(Settings, overrides)


def load_database_settings() -> DatabaseSettings:
    """The database job's settings (the migration); same error messages as `load_settings`."""
    return _load(DatabaseSettings, {})


def _load(kind: type[SettingsT], overrides: dict[str, object]) -> SettingsT:
    try:
        return kind(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        reasons = []
        for item in error.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in item["loc"])
            message = str(item["msg"]).removeprefix("Value error, ")
            reasons.append(f"PAP_{where.upper()}: {message}" if where else message)
        raise SettingsError("invalid settings: " + "; ".join(reasons)) from None


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
