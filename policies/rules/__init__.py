"""Every rule of the pack, grouped by concern; `all_policies()` is what `policies/__main__.py` packs."""

from __future__ import annotations

from pulumi_policy import Policy

from . import (
    backups,
    images,
    proxy,
    secrets,
    service_mounts,
    service_network,
    service_rollout,
    service_runtime,
    stack,
    tls,
)

PACK_NAME = "pap-security"


def all_policies() -> list[Policy]:
    return [
        *service_runtime.POLICIES,
        *service_mounts.POLICIES,
        *service_network.POLICIES,
        *service_rollout.POLICIES,
        *secrets.POLICIES,
        *stack.POLICIES,
        *backups.POLICIES,
        *images.POLICIES,
        *tls.POLICIES,
        *proxy.POLICIES,
    ]
