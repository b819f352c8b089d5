"""Exception handlers: every error is JSON `{"detail": ...}` with a precise message; never a stack trace,
and never the rejected input echoed back (it may be a password)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError
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


def install_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DataError, data_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
