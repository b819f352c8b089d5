"""Every rule of the pack, grouped by concern; `all_policies()` is what `policies/__main__.py` packs."""

from __future__ import annotations

from pulumi_policy import Policy

from . import containers, images, proxy, secrets, stack, tls

PACK_NAME = "pap-security"


def all_policies() -> list[Policy]:
    return [
        *containers.POLICIES,
        *images.POLICIES,
        *secrets.POLICIES,
        *stack.POLICIES,
        *tls.POLICIES,
        *proxy.POLICIES,
    ]
