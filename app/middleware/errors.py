"""JSON error bodies: one shape everywhere, `{"detail": "..."}`, never a stack trace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send


def error_response(
    status_code: int, detail: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status_code, headers=headers)


async def send_error(scope: Scope, receive: Receive, send: Send, status_code: int, detail: str) -> None:
    await error_response(status_code, detail)(scope, receive, send)
