"""Portable SQL for time arithmetic: seconds since the epoch and the UTC calendar day of a timestamp column.

PostgreSQL and SQLite spell both differently; analytics needs them inside aggregate queries on either.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Date, Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction


class epoch_seconds(GenericFunction[float]):
    """Seconds since 1970-01-01 UTC, with fractions, of a timestamp."""

    type = Float()
    inherit_cache = True


class utc_day(GenericFunction[Any]):
    """The UTC calendar day of a timestamp."""

    type = Date()
    inherit_cache = True


@compiles(epoch_seconds, "postgresql")
def _epoch_seconds_postgresql(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})::float8"


@compiles(epoch_seconds, "sqlite")
def _epoch_seconds_sqlite(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    # SQLite keeps these columns as ISO text in UTC; julianday parses it with millisecond precision.
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC')::date"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"
