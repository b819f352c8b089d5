"""Every router, registered once: API routers under /api/v1 (each router carries its own prefix, given
nowhere else), health and metrics at the root where load balancers and scrapers expect them."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.deps import enforce_api_rate_limit
from app.api.routes import analytics, auth, decks, events, feedback, health, presentations, sessions, users

API_PREFIX = "/api/v1"

api_router = APIRouter(prefix=API_PREFIX, dependencies=[Depends(enforce_api_rate_limit)])
for module in (auth, users, presentations, decks, sessions, events, feedback, analytics):
    api_router.include_router(module.router)

root_router = APIRouter()
root_router.include_router(health.router)
