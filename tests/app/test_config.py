"""Settings: production refuses unsafe values naming the setting; `_FILE` secrets; comma lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import DEVELOPMENT_SECRET_KEY, Settings, SettingsError, load_settings

STRONG_KEY = "k" * 40
SAFE_PRODUCTION = {"environment": "production", "secret_key": STRONG_KEY, "allowed_hosts": "api.example.com"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("PAP_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"secret_key": DEVELOPMENT_SECRET_KEY}, "PAP_SECRET_KEY"),
        ({"secret_key": "short-but-not-default"}, "PAP_SECRET_KEY"),
        ({"secret_key": "x" * 31}, "PAP_SECRET_KEY"),
        ({"allowed_hosts": "*"}, "PAP_ALLOWED_HOSTS"),
        ({"allowed_hosts": "api.example.com,*"}, "PAP_ALLOWED_HOSTS"),
        ({"cors_origins": "*"}, "PAP_CORS_ORIGINS"),
        ({"debug": "true"}, "PAP_DEBUG"),
    ],
)
def test_production_refuses_unsafe_settings(
    monkeypatch: pytest.MonkeyPatch, bad: dict[str, str], named: str
) -> None:
    for name, value in (SAFE_PRODUCTION | bad).items():
        monkeypatch.setenv(f"PAP_{name.upper()}", value)
    with pytest.raises(SettingsError, match=named) as refused:
        load_settings()
    message = str(refused.value)
    assert "refusing to start in production" in message
    if "secret_key" in bad:
        assert bad["secret_key"] not in message  # the value itself never appears


def test_production_starts_with_safe_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SAFE_PRODUCTION.items():
        monkeypatch.setenv(f"PAP_{name.upper()}", value)
    settings = load_settings()
    assert settings.environment == "production"
    assert settings.allowed_hosts == ["api.example.com"]


def test_development_accepts_the_defaults() -> None:
    settings = load_settings()
    assert settings.secret_key.get_secret_value() == DEVELOPMENT_SECRET_KEY
    assert settings.allowed_hosts == ["localhost", "127.0.0.1", "testserver"]
    assert settings.cors_origins == []
    assert settings.database_url == "sqlite:///./var/pap.db"
    assert settings.redis_url is None


def test_secrets_come_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    values = {
        "secret_key": "f" * 48,
        "database_password": "db pass/with+odd@chars",
        "redis_password": "redis:pass@x",
        "metrics_token": "scrape",
        "bootstrap_admin_password": "Bootstrap-pass-1",
    }
    for name, value in values.items():
        path = tmp_path / name
        path.write_text(value + "\n")
        monkeypatch.setenv(f"PAP_{name.upper()}_FILE", str(path))
    monkeypatch.setenv("PAP_DATABASE_URL", "postgresql+psycopg://pap@db:5432/pap")
    monkeypatch.setenv("PAP_REDIS_URL", "redis://cache:6379/0")
    settings = load_settings()
    for name, value in values.items():
        assert getattr(settings, name).get_secret_value() == value
    assert settings.database_url_with_password.password == values["database_password"]
    assert settings.database_url_with_password.host == "db"
    import redis

    parsed = redis.connection.parse_url(settings.redis_url_with_password or "")
    assert parsed["password"] == values["redis_password"] and parsed["host"] == "cache"


def test_unreadable_secret_file_names_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PAP_SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match="PAP_SECRET_KEY_FILE"):
        load_settings()


def test_comma_separated_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAP_ALLOWED_HOSTS", "a.example, b.example ,")
    monkeypatch.setenv("PAP_CORS_ORIGINS", "https://a.example,https://b.example")
    settings = Settings()
    assert settings.allowed_hosts == ["a.example", "b.example"]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    ("value", "valid"), [("off", True), ("100/second", True), ("20/2 seconds", True), ("lots", False)]
)
def test_api_rate_limit_setting(monkeypatch: pytest.MonkeyPatch, value: str, valid: bool) -> None:
    monkeypatch.setenv("PAP_API_RATE_LIMIT", value)
    if valid:
        assert load_settings().api_rate_limit.lower() == value
    else:
        with pytest.raises(SettingsError, match="PAP_API_RATE_LIMIT"):
            load_settings()
