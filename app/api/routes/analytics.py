"""Analytics for presenters (their own decks) and admins (all): JSON summaries, per viewer, CSV exports.

Summaries are cached (Redis when configured) under a key that includes a fingerprint of the deck's data
(sessions, event batches, feedback, deck edits), so any new event makes the next read recompute: the cache
is never stale. `X-Analytics-Cache: hit|miss` says which happened.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, TypeAdapter

from app.api.deps import AdminUser, CacheDep, ManagedPresentation, SessionDep, SettingsDep
from app.core.redis import Cache
from app.crud import viewing as viewing_crud
from app.schemas.analytics import Overview, PresentationAnalytics, SessionRow, SlideAnalytics, ViewerAnalytics
from app.schemas.common import ErrorResponse, Page
from app.schemas.viewing import FeedbackPublic
from app.services import analytics
from app.services.clock import server_now
from app.services.csv_export import render_csv

router = APIRouter(
    prefix="/analytics",
    tags=["analytics"],
    responses={403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
)

Now = Annotated[datetime, Depends(server_now)]
CACHE_TTL_SECONDS = 600.0
CACHE_HEADER = "X-Analytics-Cache"
T = TypeVar("T")


def _cached(
    cache: Cache, key: str, adapter: TypeAdapter[T], compute: Callable[[], T], response: Response
) -> T:
    stored = cache.get_json(key)
    if stored is not None:
        response.headers[CACHE_HEADER] = "hit"
        return adapter.validate_python(stored)
    value = compute()
    cache.set_json(key, adapter.dump_python(value, mode="json"), CACHE_TTL_SECONDS)
    response.headers[CACHE_HEADER] = "miss"
    return value


def _prepare(presentation: ManagedPresentation, session: SessionDep, settings: SettingsDep, now: Now) -> str:
    """End the deck's idle sessions, then fingerprint its data for the cache key."""
    analytics.end_idle_sessions(
        session=session,
        now=now,
        idle=timedelta(seconds=settings.session_idle),
        presentation_id=presentation.id,
    )
    return analytics.fingerprint(session=session, presentation=presentation)


Fingerprint = Annotated[str, Depends(_prepare)]


@router.get("/overview", response_model=Overview)
def read_overview(_admin: AdminUser, session: SessionDep, settings: SettingsDep, now: Now) -> Overview:
    """Totals over the whole platform (admins only)."""
    analytics.end_idle_sessions(
        session=session, now=now, idle=timedelta(seconds=settings.session_idle), presentation_id=None
    )
    return analytics.compute_overview(session=session)


@router.get("/presentations/{presentation_id}", response_model=PresentationAnalytics)
def read_presentation_analytics(
    presentation: ManagedPresentation,
    session: SessionDep,
    cache: CacheDep,
    version: Fingerprint,
    response: Response,
) -> PresentationAnalytics:
    return _cached(
        cache,
        f"analytics:{presentation.id}:summary:{version}",
        TypeAdapter(PresentationAnalytics),
        lambda: analytics.compute_presentation_analytics(session=session, presentation=presentation),
        response,
    )


@router.get("/presentations/{presentation_id}/viewers", response_model=list[ViewerAnalytics])
def read_viewer_analytics(
    presentation: ManagedPresentation,
    session: SessionDep,
    cache: CacheDep,
    version: Fingerprint,
    response: Response,
) -> list[ViewerAnalytics]:
    return _cached(
        cache,
        f"analytics:{presentation.id}:viewers:{version}",
        TypeAdapter(list[ViewerAnalytics]),
        lambda: analytics.compute_viewer_analytics(session=session, presentation=presentation),
        response,
    )


@router.get("/presentations/{presentation_id}/feedback", response_model=Page[FeedbackPublic])
def list_presentation_feedback(
    presentation: ManagedPresentation,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    feedback, total = viewing_crud.list_feedback(
        session=session, presentation_id=presentation.id, offset=offset, limit=limit
    )
    return {"data": feedback, "count": total}


def _csv_response(body: str, filename: str) -> Response:
    return Response(
        content=body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


CSV_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}, "description": "CSV"}}


def _columns(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


@router.get(
    "/presentations/{presentation_id}/export/sessions.csv", response_class=Response, responses=CSV_RESPONSE
)
def export_sessions(
    presentation: ManagedPresentation, session: SessionDep, _version: Fingerprint
) -> Response:
    """One row per viewing session."""
    rows = analytics.list_session_rows(session=session, presentation_id=presentation.id)
    header = _columns(SessionRow)
    body = render_csv(header, ([getattr(row, column) for column in header] for row in rows))
    return _csv_response(body, f"presentation-{presentation.id}-sessions.csv")


@router.get(
    "/presentations/{presentation_id}/export/slides.csv", response_class=Response, responses=CSV_RESPONSE
)
def export_slides(presentation: ManagedPresentation, session: SessionDep, _version: Fingerprint) -> Response:
    """One row per slide: views, sessions, dwell statistics and drop-offs."""
    summary = analytics.compute_presentation_analytics(session=session, presentation=presentation)
    header = _columns(SlideAnalytics)
    body = render_csv(header, ([getattr(slide, column) for column in header] for slide in summary.slides))
    return _csv_response(body, f"presentation-{presentation.id}-slides.csv")
