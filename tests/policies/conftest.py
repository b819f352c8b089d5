"""Fixtures of the policy tests: the real program's recorded plans and the pack's analyzer server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infra.plan import record_plan
from policies.analyzer_client import AnalyzerClient, running_pack


@pytest.fixture(scope="session")
def dev_plan() -> dict[str, Any]:
    return record_plan("dev")


@pytest.fixture(scope="session")
def prod_plan() -> dict[str, Any]:
    return record_plan("prod")


@pytest.fixture(scope="module")
def analyzer() -> Iterator[AnalyzerClient]:
    """One analyzer server per test module, started as the engine starts it (it takes a moment)."""
    with running_pack() as client:
        yield client
