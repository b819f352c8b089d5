"""Removes everything labeled for a stack (`make e2e-down`), and reports what is left (the teardown check)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import dataclass

import docker
import docker.errors

STACK_LABEL = "pap.stack"
E2E_LABEL = "pap.e2e"


@dataclass(frozen=True)
class Leftovers:
    containers: list[str]
    networks: list[str]
    volumes: list[str]

    @property
    def empty(self) -> bool:
        return not (self.containers or self.networks or self.volumes)

    def __str__(self) -> str:
        return f"containers={self.containers} networks={self.networks} volumes={self.volumes}"


def _filters(stack: str) -> list[dict[str, str]]:
    # The stack's own label, and the harness's label for anything the program left unlabeled.
    return [{"label": f"{STACK_LABEL}={stack}"}, {"label": f"{E2E_LABEL}=1"}]


def leftovers(stack: str, api: docker.APIClient | None = None) -> Leftovers:
    """What still carries the stack's (or the harness's) label."""
    api = api or docker.APIClient()
    containers: set[str] = set()
    networks: set[str] = set()
    volumes: set[str] = set()
    for filters in _filters(stack):
        containers |= {c["Names"][0].lstrip("/") for c in api.containers(all=True, filters=filters)}
        networks |= {n["Name"] for n in api.networks(filters=filters)}
        volumes |= {v["Name"] for v in (api.volumes(filters=filters).get("Volumes") or [])}
    return Leftovers(sorted(containers), sorted(networks), sorted(volumes))


def remove_stack(stack: str, api: docker.APIClient | None = None) -> Leftovers:
    """Containers first (they hold networks and volumes), then networks, then volumes; images stay cached."""
    api = api or docker.APIClient()
    found = leftovers(stack, api)
    # NotFound: something else (the harness, a parallel teardown) removed it first.
    for name in found.containers:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(name, v=True, force=True)
    for name in found.networks:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_network(name)
    for name in found.volumes:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_volume(name, force=True)
    return leftovers(stack, api)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args(argv)
    before = leftovers(args.stack)
    after = remove_stack(args.stack)
    removed = len(before.containers) + len(before.networks) + len(before.volumes)
    if not after.empty:
        print(f"e2e-down: still present after removal: {after}", file=sys.stderr)
        return 1
    print(f"e2e-down: removed {removed} object(s) labeled {STACK_LABEL}={args.stack} or {E2E_LABEL}=1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
