"""Plans of both stacks, run once per session (each run is the real program under the mock runtime)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.plan import PlanRun
from tests.infra.helpers import run_stack, write_dev_outputs


@pytest.fixture(scope="session")
def stack_outputs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("stack-outputs")
    write_dev_outputs(directory)
    return directory


@pytest.fixture(scope="session")
def dev(stack_outputs_dir: Path) -> PlanRun:
    return run_stack("dev", stack_outputs_dir)


@pytest.fixture(scope="session")
def prod(stack_outputs_dir: Path) -> PlanRun:
    return run_stack("prod", stack_outputs_dir)


@pytest.fixture(params=["dev", "prod"])
def plan(request: pytest.FixtureRequest) -> PlanRun:
    """Each stack in turn, for the rules both must satisfy."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The SDK's mock runtime drops the futures of outputs nobody awaited (stack outputs of an earlier run in
    # this process) and Python warns about them; they say nothing about the program.
    for item in items:
        if "tests/infra/" in str(item.fspath):
            item.add_marker(pytest.mark.filterwarnings("ignore:coroutine 'Output.*' was never awaited"))
