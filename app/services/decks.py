"""Decks from PDF: check an upload, render it in a bounded child process, store it as a new version.

Nothing is stored until the whole PDF rendered: a refused or failed upload leaves the deck as it was.
"""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.db import utcnow
from app.models.presentations import Deck, Presentation, Slide, SlideImage
from app.models.users import User
from app.services.deck_render import EXIT_BAD_PDF

WIDTHS = (480, 1600)  # thumbnails and the viewer; srcset picks between them
PDF_MAGIC = b"%PDF-"
MAGIC_WINDOW = 1024  # the header may follow up to 1 KB of junk (ISO 32000-1, annex H.3), as readers allow
STDERR_LIMIT = 400
MB = 1024 * 1024


class DeckRejected(Exception):
    """The upload cannot become a deck; `status` is the HTTP status, the message the reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RendererBusy(Exception):
    """Every render slot stayed taken while the upload waited."""


@dataclass
class RenderedPage:
    title: str
    text: str
    images: dict[int, bytes] = field(default_factory=dict)


async def read_pdf(chunks: AsyncIterator[bytes], declared_length: str | None, max_bytes: int) -> bytes:
    """The body, refused as soon as it is known to exceed `max_bytes` (declared or streamed)."""
    limit = f"larger than the {max_bytes / MB:g} MB limit (PAP_DECK_MAX_BYTES)"
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > max_bytes:
        raise DeckRejected(413, f"deck: {limit}")
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > max_bytes:
            raise DeckRejected(413, f"deck: {limit}")
    return bytes(body)


def sniff(pdf: bytes) -> None:
    """By content, never by name or declared type."""
    if not pdf:
        raise DeckRejected(422, "deck: the body is empty; send the PDF's bytes")
    if PDF_MAGIC not in pdf[:MAGIC_WINDOW]:
        raise DeckRejected(415, "deck: not a PDF (the content has no %PDF- header)")


class Renderer:
    """Runs app.services.deck_render under the settings' bounds, a bounded number at a time."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._slots = threading.BoundedSemaphore(settings.deck_render_concurrency)

    def render(self, pdf: bytes, wait_seconds: float = 30.0) -> list[RenderedPage]:
        if not self._slots.acquire(timeout=wait_seconds):
            raise RendererBusy
        try:
            return self._run(pdf)
        finally:
            self._slots.release()

    def _run(self, pdf: bytes) -> list[RenderedPage]:
        settings = self._settings
        timeout = settings.deck_render_timeout_seconds
        command = [
            sys.executable,
            "-m",
            "app.services.deck_render",
            str(settings.deck_render_memory_mb),
            str(timeout),  # CPU seconds: never more than the wall time allowed
            str(settings.deck_max_pages),
            *(str(width) for width in WIDTHS),
        ]
        try:
            done = subprocess.run(command, input=pdf, capture_output=True, timeout=timeout, check=False)  # noqa: S603
        except subprocess.TimeoutExpired:  # run() killed the child
            raise DeckRejected(
                422, f"deck: rendering took longer than {timeout} s (PAP_DECK_RENDER_TIMEOUT_SECONDS)"
            ) from None
        reason = done.stderr.decode(errors="replace").strip()[-STDERR_LIMIT:]
        if done.returncode == EXIT_BAD_PDF:
            raise DeckRejected(422, f"deck: {reason}")
        if done.returncode != 0:
            # Killed by a limit (SIGXCPU, SIGSEGV/SIGABRT on a failed allocation) or crashed on the file.
            raise DeckRejected(
                422,
                f"deck: the PDF could not be rendered within {settings.deck_render_memory_mb} MB and "
                f"{timeout} s (renderer exit {done.returncode})",
            )
        return _parse(done.stdout)


def _parse(output: bytes) -> list[RenderedPage]:
    frames = _frames(output)
    header = json.loads(next(frames))
    pages = []
    for _ in range(header["pages"]):
        meta = json.loads(next(frames))
        page = RenderedPage(title=meta["title"], text=meta["text"])
        for width in WIDTHS:
            page.images[width] = next(frames)
        pages.append(page)
    return pages


def _frames(output: bytes) -> Iterator[bytes]:
    offset = 0
    while offset < len(output):
        (length,) = struct.unpack_from(">I", output, offset)
        offset += 4
        yield output[offset : offset + length]
        offset += length


def store(
    *, session: Session, presentation: Presentation, user: User, pdf: bytes, pages: list[RenderedPage]
) -> Deck:
    """A new version with its images, and the presentation's slides replaced by the deck's pages."""
    latest = session.scalar(select(func.max(Deck.version)).where(Deck.presentation_id == presentation.id))
    deck = Deck(
        presentation_id=presentation.id,
        version=(latest or 0) + 1,
        page_count=len(pages),
        size_bytes=len(pdf),
        sha256=hashlib.sha256(pdf).hexdigest(),
        pdf=pdf,
        uploaded_by=user.id,
    )
    session.add(deck)
    session.flush()
    for position, page in enumerate(pages):
        for width, data in page.images.items():
            session.add(
                SlideImage(
                    deck_id=deck.id,
                    position=position,
                    width=width,
                    etag=hashlib.sha256(data).hexdigest(),
                    data=data,
                )
            )
    presentation.slides.clear()
    session.flush()  # the old rows go first: (presentation_id, position) is unique
    presentation.slides.extend(
        Slide(position=position, title=page.title, content=page.text) for position, page in enumerate(pages)
    )
    presentation.deck_version = deck.version
    presentation.updated_at = utcnow()
    session.commit()
    session.refresh(presentation)
    return deck


def current_deck(*, session: Session, presentation: Presentation) -> Deck | None:
    if presentation.deck_version is None:
        return None
    return session.scalar(
        select(Deck).where(Deck.presentation_id == presentation.id, Deck.version == presentation.deck_version)
    )


def slide_image(
    *, session: Session, presentation: Presentation, version: int, position: int, width: int
) -> SlideImage | None:
    return session.scalar(
        select(SlideImage)
        .join(Deck, Deck.id == SlideImage.deck_id)
        .where(
            Deck.presentation_id == presentation.id,
            Deck.version == version,
            SlideImage.position == position,
            SlideImage.width == width,
        )
    )
