"""Runs a Pulumi program function under the (applying) mock runtime and returns its resolved stack outputs.

The SDK's mock monitor hands a mock only a resource's type, name and inputs; `RecordingMonitor` also tells
it the URN and the resource options a `pulumi up` acts on (deleteBeforeReplace, ignoreChanges,
replaceOnChanges, retainOnDelete), through `current_registration()` on the registering thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

# Resource registrations run on the event loop's default executor; the harness blocks in them (image
# builds, waits for services to converge), so give it room for every independent resource at once.
REGISTRATION_THREADS = 24


@dataclass(frozen=True)
class Registration:
    """What the engine knows of one registration besides its inputs."""

    urn: str
    delete_before_replace: bool = False
    ignore_changes: tuple[str, ...] = ()
    replace_on_changes: tuple[str, ...] = ()
    retain_on_delete: bool = False


_CURRENT = threading.local()


def current_registration() -> Registration:
    """The registration being handled on this thread (set around `Mocks.new_resource`)."""
    registration = getattr(_CURRENT, "registration", None)
    if registration is None:
        raise RuntimeError("new_resource called outside RecordingMonitor.RegisterResource")
    return registration


class RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, also recording each registration's URN and options for the mocks."""

    def RegisterResource(self, request: Any) -> Any:
        _CURRENT.registration = Registration(
            urn=self.make_urn(request.parent, request.type, request.name),
            delete_before_replace=bool(request.deleteBeforeReplace),
            ignore_changes=tuple(request.ignoreChanges),
            replace_on_changes=tuple(request.replaceOnChanges),
            retain_on_delete=bool(request.retainOnDelete),
        )
        try:
            return super().RegisterResource(request)
        finally:
            _CURRENT.registration = None


def run_program(
    mocks: pulumi.runtime.Mocks,
    project: str,
    stack: str,
    configure: Callable[[], None],
    program: Callable[[], None],
) -> dict[str, Any]:
    """`configure` sets the stack config after the mocks are installed; `program` declares the resources."""
    runtime_settings.ROOT.set(None)  # a new Stack resource per run
    pulumi.runtime.set_mocks(
        mocks, project=project, stack=stack, preview=False, monitor=RecordingMonitor(mocks)
    )
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
