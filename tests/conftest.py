"""Suite-wide rules: in CI (PAP_NO_SKIP=1) a skipped test is a failure, so a required suite cannot vanish."""

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.dockerkit import DockerKit


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("PAP_NO_SKIP") == "1":
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every suite is required: {reason}"


@pytest.fixture(scope="session")
def kit() -> Iterator["DockerKit"]:
    """A real Docker engine with the local base image, for the image tests (imported only when one asks)."""
    from tests.dockerkit import DockerKit, engine_client, ensure_base_image

    client = engine_client()
    ensure_base_image(client)
    kit = DockerKit(client)
    kit.sweep_abandoned()
    yield kit
    kit.close()
