"""Teardown: removing what the harness created leaves nothing carrying the stack's label (runs last)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.e2e import teardown
from tests.e2e.conftest import STACK, Platform
from tests.e2e.summary import Summary, verify

pytestmark = pytest.mark.e2e
ENGINE_KINDS = ("service", "secret", "serviceConfig", "network", "volume")


def test_teardown_leaves_nothing_labeled(platform: Platform, summary: Summary) -> None:
    if platform.keep:
        pytest.skip("--keep: the platform is left running on purpose (make e2e-down removes it)")
    mocks = platform.deployment.mocks
    kinds = Counter(resource.type.split("/")[-1].split(":")[0] for resource in mocks.resources)
    counts = ", ".join(f"{kinds.get(kind, 0)} {kind}s" for kind in ENGINE_KINDS)
    # Only the harness's own removal of what it created: teardown.remove_stack would hide a leak.
    problems = mocks.remove_all()
    left = teardown.leftovers(STACK)
    verify(
        summary,
        "teardown: no service, task container, secret, config, network or volume labeled pap.stack=dev left",
        left.empty and not problems,
        f"removed {counts}; left: {'nothing' if left.empty else left}; removal errors: {problems or 'none'}",
    )
