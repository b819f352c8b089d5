"""What every resource kind shares: the harness's label, its error, and raw Engine API calls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import docker
import docker.errors

E2E_LABEL = "pap.e2e"
STACK_LABEL = "pap.stack"
PROJECT_PREFIX = "pap"  # physical names are `pap-<stack>-<thing>` (infra/naming.py)

Created = tuple[str, dict[str, Any]]  # (resource id, outputs), what a mock's new_resource returns


class ApplyError(Exception):
    """The engine refused what the program declared, or a declared wait condition was not met."""


def engine(
    api: docker.APIClient,
    method: str,
    path: str,
    *path_args: str,
    body: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """One Engine API call with the exact JSON body the provider's Go client sends; the answer's JSON."""
    url = api._url(path, *path_args)
    options = {"params": dict(params or {}), "headers": dict(headers or {})}
    if method == "POST":
        response = api._post_json(url, data=dict(body or {}), **options)
    elif method == "GET":
        response = api._get(url, **options)
    elif method == "DELETE":
        response = api._delete(url, **options)
    else:
        raise ValueError(f"unsupported method {method}")
    api._raise_for_status(response)
    return response.json() if response.content else None


def engine_message(error: docker.errors.APIError) -> str:
    """Docker's own words (the `message` of its error body), not docker-py's wrapping of them."""
    explanation = error.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode(errors="replace")
    return str(explanation or error)


def stack_of(name: str, stack: str) -> str | None:
    """The stack a physical name belongs to, when it carries the `pap-<stack>-` prefix."""
    return stack if name.startswith(f"{PROJECT_PREFIX}-{stack}-") else None
