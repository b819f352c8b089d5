"""Teardown: removing what the harness created leaves nothing carrying the stack's label (runs last)."""

from __future__ import annotations

import pytest

from tests.e2e import teardown
from tests.e2e.conftest import STACK, Platform
from tests.e2e.summary import Summary, verify

pytestmark = pytest.mark.e2e


def test_teardown_leaves_nothing_labeled(platform: Platform, summary: Summary) -> None:
    if platform.keep:
        pytest.skip("--keep: the platform is left running on purpose (make e2e-down removes it)")
    created = platform.deployment.mocks.ledger
    sizes = (len(created.containers), len(created.networks), len(created.volumes))
    counts = "{} containers, {} networks, {} volumes".format(*sizes)
    # Only the harness's own removal of what it created: teardown.remove_stack would hide a leak.
    problems = platform.deployment.mocks.remove_all()
    left = teardown.leftovers(STACK)
    verify(
        summary,
        "teardown: no container, network or volume labeled pap.stack=dev left",
        left.empty and not problems,
        f"removed {counts}; left: {'nothing' if left.empty else left}; removal errors: {problems or 'none'}",
    )
