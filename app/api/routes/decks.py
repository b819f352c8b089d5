"""Decks from PDF: upload (a new version, rendered into slide images), the current deck, slide images."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from app.api.deps import CurrentUser, ManagedPresentation, ReadablePresentation, ResourcesDep, SessionDep
from app.models.presentations import Deck, Presentation
from app.schemas.common import error_responses
from app.schemas.presentations import DeckPublic, DeckSlide
from app.services import decks as decks_service

router = APIRouter(prefix="/presentations/{presentation_id}/deck", tags=["decks"])

# The upload's path, for the body-size limit (app.middleware.body_limit), which runs before routing.
DECK_UPLOAD_PATH = re.compile(r"/api/v1/presentations/[^/]+/deck")
PDF_TYPE = "application/pdf"
IMAGE_TYPE = "image/webp"
# Authorised per request (private), but a version's image never changes (immutable): the browser keeps it.
IMAGE_CACHE_CONTROL = "private, max-age=31536000, immutable"
Version = Annotated[int, Path(ge=1, le=1_000_000)]
Position = Annotated[int, Path(ge=0, le=10_000)]


def _image_url(presentation: Presentation, version: int, position: int, width: int) -> str:
    return f"/api/v1/presentations/{presentation.id}/deck/{version}/slides/{position}?width={width}"


def _public(presentation: Presentation, deck: Deck) -> DeckPublic:
    narrow, wide = min(decks_service.WIDTHS), max(decks_service.WIDTHS)
    return DeckPublic(
        version=deck.version,
        page_count=deck.page_count,
        size_bytes=deck.size_bytes,
        sha256=deck.sha256,
        uploaded_at=deck.uploaded_at,
        widths=list(decks_service.WIDTHS),
        slides=[
            DeckSlide(
                position=slide.position,
                title=slide.title,
                image_url=_image_url(presentation, deck.version, slide.position, wide),
                thumbnail_url=_image_url(presentation, deck.version, slide.position, narrow),
            )
            for slide in presentation.slides
        ],
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DeckPublic,
    responses=error_responses(403, 404, 413, 415, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {PDF_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_deck(
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    user: CurrentUser,
    presentation: ManagedPresentation,
    content_type: Annotated[str | None, Header()] = None,
) -> DeckPublic:
    """The PDF as the request body (`Content-Type: application/pdf`). Its pages become the slides, as a new
    version of the deck; sessions opened on an older version keep their slide count and its images."""
    if (content_type or "").split(";")[0].strip().lower() != PDF_TYPE:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail=f"deck: send the PDF as Content-Type: {PDF_TYPE}"
        )
    settings = resources.settings
    try:
        pdf = await decks_service.read_pdf(
            request.stream(), request.headers.get("content-length"), settings.deck_max_bytes
        )
        decks_service.sniff(pdf)
        pages = await run_in_threadpool(resources.deck_renderer.render, pdf)
    except decks_service.DeckRejected as rejected:
        raise HTTPException(rejected.status, detail=str(rejected)) from None
    except decks_service.RendererBusy:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="deck: every renderer is busy; retry in a minute",
            headers={"Retry-After": "60"},
        ) from None
    deck = await run_in_threadpool(
        decks_service.store, session=session, presentation=presentation, user=user, pdf=pdf, pages=pages
    )
    return _public(presentation, deck)


@router.get("", response_model=DeckPublic, responses=error_responses(404))
def read_deck(session: SessionDep, presentation: ReadablePresentation) -> DeckPublic:
    deck = decks_service.current_deck(session=session, presentation=presentation)
    if deck is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="this presentation has no uploaded PDF")
    return _public(presentation, deck)


@router.get(
    "/{version}/slides/{position}",
    response_class=Response,
    responses={
        200: {"content": {IMAGE_TYPE: {}}},
        304: {"description": "not modified"},
        **error_responses(404),
    },
)
def read_slide_image(
    session: SessionDep,
    presentation: ReadablePresentation,
    version: Version,
    position: Position,
    width: Annotated[int, Query(description="one of the deck's widths: 480 or 1600")] = 1600,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """One page of a deck version as WebP, at one of the deck's widths."""
    if width not in decks_service.WIDTHS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"width: {width} is not one of {', '.join(map(str, decks_service.WIDTHS))}",
        )
    image = decks_service.slide_image(
        session=session, presentation=presentation, version=version, position=position, width=width
    )
    if image is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such deck version or slide")
    etag = f'"{image.etag}"'
    headers = {"ETag": etag, "Cache-Control": IMAGE_CACHE_CONTROL}
    if if_none_match is not None and etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=image.data, media_type=IMAGE_TYPE, headers=headers)
