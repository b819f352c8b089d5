"""Renders an uploaded PDF into slide images, in a child process bounded in memory and CPU time.

PDFs come from users, and PDFium is a large C++ parser: a hostile file (an absurd page size, a decompression
bomb, a content stream that never ends) must cost at most one child process, never the service. The parent
(app.services.decks) starts `python -m app.services.deck_render MEMORY_MB CPU_SECONDS MAX_PAGES WIDTH...`,
writes the PDF on stdin and reads frames on stdout; it also bounds the wall time and kills the child.

Output, in order: one header frame (JSON: {"pages": n}), then per page one JSON frame ({"title", "text"})
followed by one image frame per width (WebP). A frame is a 4-byte big-endian length and its bytes. Errors go
to stderr as one line and exit code 2 (the PDF's fault) or 1 (anything else).
"""

from __future__ import annotations

import io
import json
import resource
import struct
import sys
from typing import BinaryIO

MAX_HEIGHT_RATIO = 4  # a page taller than 4x its width renders at a scale that fits 4x: bitmaps stay bounded
TITLE_LENGTH = 200
TEXT_LENGTH = 10_000
WEBP_QUALITY = 82
EXIT_BAD_PDF = 2


class BadPdf(Exception):
    """The PDF cannot become a deck; the message says why, for the uploader."""


def _frame(out: BinaryIO, payload: bytes) -> None:
    out.write(struct.pack(">I", len(payload)))
    out.write(payload)


def _title(text: str, position: int) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:TITLE_LENGTH]
    return f"Slide {position + 1}"


def render(pdf: bytes, max_pages: int, widths: list[int], out: BinaryIO) -> None:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        document = pdfium.PdfDocument(pdf)
    except pdfium.PdfiumError as error:
        if "password" in str(error).lower():
            raise BadPdf("encrypted PDF: upload it without a password or encryption") from None
        if "(PDFium: Success)" in str(error):  # parsed, but PDFium found no page tree with a page in it
            raise BadPdf("the PDF has no pages (its page tree is empty or unreadable)") from None
        raise BadPdf(f"corrupt PDF: PDFium cannot open it ({error})") from None
    # An owner-password-only file opens without a password but stays encrypted (and restricted): refused too.
    if pdfium_c.FPDF_GetSecurityHandlerRevision(document.raw) != -1:
        raise BadPdf("encrypted PDF: upload it without a password or encryption")
    pages = len(document)
    if pages == 0:
        raise BadPdf("the PDF has no pages")
    if pages > max_pages:
        raise BadPdf(f"the PDF has {pages} pages; the limit is {max_pages} (PAP_DECK_MAX_PAGES)")
    _frame(out, json.dumps({"pages": pages}).encode())
    for position in range(pages):
        page = document[position]
        page_width, page_height = page.get_size()
        if page_width <= 0 or page_height <= 0:
            raise BadPdf(f"page {position + 1} has no area ({page_width} x {page_height} pt)")
        text = page.get_textpage().get_text_bounded().replace("\r\n", "\n")[:TEXT_LENGTH]
        _frame(out, json.dumps({"title": _title(text, position), "text": text}).encode())
        for width in widths:
            scale = min(width / page_width, width * MAX_HEIGHT_RATIO / page_height)
            image = page.render(scale=scale, may_draw_forms=False).to_pil()
            if image.width != width:  # a page clamped by its height: pad to the slide width, centred
                from PIL import Image

                canvas = Image.new("RGB", (width, image.height), "white")
                canvas.paste(image, ((width - image.width) // 2, 0))
                image = canvas
            encoded = io.BytesIO()
            image.convert("RGB").save(encoded, format="WEBP", quality=WEBP_QUALITY, method=4)
            _frame(out, encoded.getvalue())
        page.close()
    out.flush()


def main(argv: list[str]) -> int:
    memory_mb, cpu_seconds, max_pages = (int(value) for value in argv[:3])
    widths = [int(value) for value in argv[3:]]
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    pdf = sys.stdin.buffer.read()
    try:
        render(pdf, max_pages, widths, sys.stdout.buffer)
    except BadPdf as error:
        print(error, file=sys.stderr)
        return EXIT_BAD_PDF
    except MemoryError:
        print(f"rendering needs more than {memory_mb} MB (PAP_DECK_RENDER_MEMORY_MB)", file=sys.stderr)
        return EXIT_BAD_PDF
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
