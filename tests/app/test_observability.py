"""Sentry only when configured; PAP_DEBUG only raises log detail."""

from __future__ import annotations

from typing import Any

import pytest
import sentry_sdk
import structlog

from tests.app.conftest import Backend, build_app


def test_sentry_is_initialised_only_with_a_dsn(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(sentry_sdk, "init", lambda **options: calls.append(options))
    build_app(backend)
    assert calls == []
    build_app(backend, sentry_dsn="https://public@sentry.example/1")
    assert len(calls) == 1
    assert calls[0]["dsn"] == "https://public@sentry.example/1"
    assert calls[0]["send_default_pii"] is False


def test_debug_only_lowers_the_log_level(backend: Backend) -> None:
    build_app(backend, log_level="WARNING")
    assert not structlog.get_logger().is_enabled_for(20)
    build_app(backend, log_level="WARNING", debug=True)
    assert structlog.get_logger().is_enabled_for(10)
    build_app(backend)  # back to INFO for the tests that follow
