"""The server clock as a dependency: every duration comes from it, and tests replace it to control time."""

from __future__ import annotations

from datetime import datetime

from app.db import utcnow


def server_now() -> datetime:
    """The receive time of the current request (UTC); override in tests via app.dependency_overrides."""
    return utcnow()
