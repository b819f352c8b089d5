"""PDFs for the deck tests, made here: well-formed decks (reportlab), encrypted ones (pypdf), and broken or
hostile ones written byte by byte, so each test knows exactly what the service was given."""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence

from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen import canvas

WIDE = (960.0, 540.0)  # 16:9 in points
PORTRAIT = (595.0, 842.0)  # A4


def deck(titles: Sequence[str | None], sizes: Sequence[tuple[float, float]] | None = None) -> bytes:
    """One page per title (None: a page with no text), each with a second line of body text."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for index, title in enumerate(titles):
        pdf.setPageSize(sizes[index] if sizes else WIDE)
        if title is not None:
            pdf.setFont("Helvetica-Bold", 32)
            pdf.drawString(50, 300, title)
            pdf.setFont("Helvetica", 14)
            pdf.drawString(50, 250, f"body of page {index + 1}")
        else:
            pdf.rect(100, 100, 200, 100, fill=1)  # drawn, but no text
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def illustrated(titles: Sequence[str], noise_side: int = 160) -> bytes:
    """Like `deck`, with a `noise_side`-pixel square of random RGB noise on each page: it does not compress,
    so the file is big enough (about 75 KB a page at 160) for an upload to show its progress."""
    import random

    from PIL import Image
    from reportlab.lib.utils import ImageReader

    noise = random.Random(1234)  # the same bytes every run
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=WIDE)
    for index, title in enumerate(titles):
        pdf.setFont("Helvetica-Bold", 32)
        pdf.drawString(50, 300, title)
        pdf.setFont("Helvetica", 14)
        pdf.drawString(50, 250, f"body of page {index + 1}")
        pixels = Image.frombytes(
            "RGB", (noise_side, noise_side), noise.randbytes(noise_side * noise_side * 3)
        )
        pdf.drawImage(ImageReader(pixels), 700, 280, width=200, height=200)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def encrypted(user_password: str) -> bytes:
    """A valid deck encrypted with AES-256; an empty user password opens without one (owner-only)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(deck(["Secret"]))))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _assemble(objects: Sequence[bytes]) -> bytes:
    """A PDF with a correct cross-reference table from numbered object bodies (1-based)."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    packed = zlib.compress(data, 9)
    return (
        b"<< /Length %d /Filter /FlateDecode %s >>\nstream\n" % (len(packed), extra) + packed + b"\nendstream"
    )


def zero_pages() -> bytes:
    return _assemble([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])


def one_page(media_box: tuple[float, float], content: bytes = b"", resources: bytes = b"<< >>") -> bytes:
    width, height = media_box
    return _assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] /Resources %s /Contents 4 0 R >>"
            % (width, height, resources),
            _stream(content),
        ]
    )


def endless_drawing(operations: int) -> bytes:
    """A page whose content is `operations` stroked lines: cheap to send, slow to render."""
    return one_page(WIDE, b"0.1 w " + b"10 10 m 950 530 l S " * operations)


def decompression_bomb(side: int) -> bytes:
    """A `side` x `side` RGB image of zeros (side^2 x 3 bytes decoded) in a few kilobytes, drawn full page."""
    compressor = zlib.compressobj(9)
    row_block = bytes(side * 3 * 64)
    packed = b"".join(compressor.compress(row_block) for _ in range(side // 64)) + compressor.flush()
    image = (
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Length %d /Filter /FlateDecode >>\nstream\n"
        % (side, side, len(packed))
        + packed
        + b"\nendstream"
    )
    return _assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 960 540] /Resources << /XObject << /Im 5 0 R >> >> "
            b"/Contents 4 0 R >>",
            _stream(b"q 960 0 0 540 0 0 cm /Im Do Q"),
            image,
        ]
    )
