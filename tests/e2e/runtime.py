"""Runs a Pulumi program function under the (applying) mock runtime and returns its resolved stack outputs."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

# Resource registrations run on the event loop's default executor; the harness blocks in them (image
# builds, waits for healthy), so give it room for every independent resource of the stack at once.
REGISTRATION_THREADS = 24


def run_program(
    mocks: pulumi.runtime.Mocks,
    project: str,
    stack: str,
    configure: Callable[[], None],
    program: Callable[[], None],
) -> dict[str, Any]:
    """`configure` sets the stack config after the mocks are installed; `program` declares the resources."""
    runtime_settings.ROOT.set(None)  # a new Stack resource per run
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False)
    configure()
    outputs: dict[str, Any] = {}

    async def declare_and_resolve() -> None:
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(
                max_workers=REGISTRATION_THREADS, thread_name_prefix="pap-e2e"
            )
        )
        program()
        root = runtime_settings.get_root_resource()
        exported = getattr(root, "outputs", {}) or {}
        for name, value in exported.items():
            outputs[name] = await pulumi.Output.from_input(value).future()

    _sync_await(run_pulumi_func(declare_and_resolve))
    return outputs
