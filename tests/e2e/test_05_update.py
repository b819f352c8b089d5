"""A second `deploy` with the same mocks is a `pulumi up` on the existing stack: with the same inputs it
changes nothing (no engine call, no service's version index moves, every ID stays)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import STACK, Platform
from tests.e2e.deploy import E2E_OVERRIDES, deploy
from tests.e2e.summary import Summary, verify_all

pytestmark = pytest.mark.e2e


def _engine_view(platform: Platform) -> dict[str, Any]:
    """Every service's version index and task IDs, and every secret/config/network/volume by ID."""
    api = platform.stack.api
    services = platform.stack.services()
    return {
        "versions": {s["Spec"]["Name"]: s["Version"]["Index"] for s in services},
        "tasks": {
            s["Spec"]["Name"]: sorted(
                t["ID"] for t in api.tasks(filters={"service": s["ID"], "desired-state": "running"})
            )
            for s in services
        },
        "secrets": sorted(s["ID"] for s in api.secrets(filters={"label": f"pap.stack={STACK}"})),
        "configs": sorted(c["ID"] for c in api.configs(filters={"label": f"pap.stack={STACK}"})),
        "networks": sorted(n["Id"] for n in api.networks(filters={"label": f"pap.stack={STACK}"})),
        "volumes": sorted(
            v["Name"] for v in api.volumes(filters={"label": f"pap.stack={STACK}"})["Volumes"] or []
        ),
    }


def test_second_deploy_with_same_inputs_changes_nothing(platform: Platform, summary: Summary) -> None:
    mocks = platform.deployment.mocks
    before = _engine_view(platform)
    ids_before = {resource.urn: resource.id for resource in mocks.resources}
    started = time.monotonic()
    again = deploy(STACK, mocks, E2E_OVERRIDES)
    seconds = time.monotonic() - started
    after = _engine_view(platform)
    ids_after = {resource.urn: resource.id for resource in mocks.resources}
    changed = {action: again.run.actions[action] for action in ("create", "update", "replace", "delete")}
    moved = {name: (version, after["versions"].get(name)) for name, version in before["versions"].items()
             if after["versions"].get(name) != version}  # fmt: skip
    verify_all(
        summary,
        [
            (
                "update: same inputs -> every resource unchanged, no engine change",
                not any(changed.values()) and again.run.count("same") == len(ids_before),
                f"{again.run.count('same')}/{len(ids_before)} unchanged in {seconds:.1f}s; "
                f"changes: {({k: v for k, v in changed.items() if v}) or 'none'}",
            ),
            (
                "update: no service's version index moved, same tasks, same IDs",
                not moved
                and after == before
                and ids_after == ids_before
                and again.outputs == platform.outputs,
                f"{len(before['versions'])} services, versions moved: {moved or 'none'}; "
                f"tasks/secrets/configs/networks/volumes {'identical' if after == before else 'DIFFER'}",
            ),
        ],
    )
