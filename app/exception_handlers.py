"""Exception handlers: every error is JSON `{"detail": ...}` with a precise message; never a stack trace,
and never the rejected input echoed back (it may be a password)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from app.middleware.errors import error_response


def _describe(error: dict[str, Any]) -> dict[str, Any]:
    location = [str(part) for part in error.get("loc", ())]
    return {
        "loc": location,
        "msg": str(error.get("msg", "")).removeprefix("Value error, "),
        "type": error.get("type"),
    }


async def validation_error_handler(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = [_describe(item) for item in error.errors()]
    summary = "; ".join(f"{'.'.join(item['loc'])}: {item['msg']}" for item in details[:5])
    return error_response(422, f"invalid request: {summary}", errors=details)


async def http_error_handler(_request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code in (204, 304):
        return Response(status_code=error.status_code, headers=error.headers)
    return error_response(error.status_code, str(error.detail), headers=error.headers)


async def data_error_handler(_request: Request, _error: Exception) -> JSONResponse:
    # Input that passed validation but that the database cannot store (NUL bytes, out-of-range numbers):
    # the client's data is at fault, so 422, not 500.
    return error_response(422, "invalid request: a value cannot be stored (out of range or not valid text)")


DATABASE_RETRY_AFTER_SECONDS = 5


async def database_unavailable_handler(_request: Request, _error: Exception) -> JSONResponse:
    # Connection refused or lost, pool exhausted, server shutting down: the request was not served and may be
    # retried as is, which a 503 with Retry-After says (a 500 would say the service is broken).
    return error_response(
        503,
        "the database is unavailable; retry shortly",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


def install_exception_handlers(app: FastAPI) -> None:
    for unavailable in (OperationalError, DisconnectionError, PoolTimeoutError):
        app.add_exception_handler(unavailable, database_unavailable_handler)
    app.add_exception_handler(DataError, data_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
