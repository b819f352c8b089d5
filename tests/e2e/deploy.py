"""Deploys a stack onto the real engine: its committed config (plus e2e overrides), the real program.

`deploy` with a new `ApplyingMocks` deploys from nothing; again with the same mocks it is an update run
(`pulumi up` on an existing stack, see `tests/e2e/harness.py`).
"""

from __future__ import annotations

import contextlib
import json
import runpy
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from infra.config import PROJECT
from infra.plan import read_stack_file
from tests.e2e.harness import ApplyingMocks, RunRecord
from tests.e2e.runtime import run_program

REPO_ROOT = Path(__file__).resolve().parents[2]
# Two replicas so that killing one proves the proxy keeps answering (issue 5, "Faults").
E2E_OVERRIDES: dict[str, dict[str, Any]] = {"backend": {"replicas": 2}}
# A failed run still waits for registrations in flight (the longest: a cold image build).
IN_FLIGHT_TIMEOUT = 1800.0


@dataclass
class Deployment:
    stack: str
    mocks: ApplyingMocks
    outputs: dict[str, Any]
    program_seconds: float
    run: RunRecord  # what this run created, updated, replaced, kept and deleted


def merged_config(stack: str, overrides: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """The stack file as the CLI hands it to the program, with `overrides` merged into its object values."""
    config, secret_keys = read_stack_file(stack, REPO_ROOT / f"Pulumi.{stack}.yaml")
    for key, patch in overrides.items():
        full_key = f"{PROJECT}:{key}"
        current = json.loads(config.get(full_key, "{}"))
        config[full_key] = json.dumps(_deep_merge(current, patch))
    return config, secret_keys


def _deep_merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        merged[key] = _deep_merge(merged.get(key, {}), value) if isinstance(value, Mapping) else value
    return merged


def prepare_build_inputs() -> None:
    """The service image installs only from app/.wheelhouse, the web image copies the frontend built on the
    host into app/web/.image (ARCHITECTURE.md, "Image contracts")."""
    subprocess.run([str(REPO_ROOT / "tools" / "wheelhouse.sh")], cwd=REPO_ROOT, check=True)
    subprocess.run([str(REPO_ROOT / "tools" / "build-web.sh")], cwd=REPO_ROOT, check=True)


def _run_main() -> None:
    # Exactly what the Pulumi CLI runs: `main: infra/` in Pulumi.yaml.
    runpy.run_module("infra.__main__", run_name="__main__")


def new_mocks(stack: str = "dev") -> ApplyingMocks:
    # Build contexts are relative to the program's working directory (infra/images.py), the repository root.
    return ApplyingMocks(project_dir=REPO_ROOT, stack=stack)


def deploy(
    stack: str, mocks: ApplyingMocks, overrides: Mapping[str, Mapping[str, Any]] = E2E_OVERRIDES
) -> Deployment:
    """Runs `infra/__main__.py` under the applying mocks; every resource exists on the engine when it returns.

    The first failure of a resource (an `ApplyError` naming it) is raised as is. The caller owns `mocks`,
    so what a failed deploy created is still in them for `remove_all`.
    """
    if stack != mocks.stack:
        raise ValueError(f"these mocks hold stack {mocks.stack!r}, not {stack!r}")
    config, secret_keys = merged_config(stack, overrides)
    run = mocks.begin_run()
    started = time.monotonic()
    try:
        # The CLI runs the program in the project directory; build contexts are relative to it.
        with contextlib.chdir(REPO_ROOT):
            outputs = run_program(
                mocks,
                PROJECT,
                stack,
                configure=lambda: pulumi.runtime.set_all_config(config, secret_keys),
                program=lambda: _run_main(),
            )
    except Exception as error:
        mocks.wait_idle(IN_FLIGHT_TIMEOUT)
        if mocks.errors:
            raise mocks.errors[0] from error
        raise
    if mocks.errors:  # a failure the SDK only logged
        raise mocks.errors[0]
    mocks.finish_run()
    return Deployment(stack, mocks, outputs, time.monotonic() - started, run)
