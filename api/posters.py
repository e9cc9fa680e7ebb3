"""QR posters for the report page: one printable A4 page per grid (150 dpi) with the grid's
name and code, its worker's name and a QR code (segno) to ``<base>/report?grid=CODE``, drawn
with Pillow in Noto Sans CJK (Debian's fonts-noto-cjk)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import segno
from PIL import Image, ImageDraw, ImageFont

FONTS = Path("/usr/share/fonts/opentype/noto")
REGULAR, BOLD = FONTS / "NotoSansCJK-Regular.ttc", FONTS / "NotoSansCJK-Bold.ttc"
SC = 2  # the collection's Simplified Chinese face
PAGE = (1240, 1754)  # A4 at 150 dpi
DPI = 150
RED, INK, GREY = (192, 57, 43), (29, 35, 41), (86, 101, 115)


@dataclass(frozen=True)
class Poster:
    code: str
    name: str
    community: str | None
    worker: str | None


class FontMissingError(OSError):
    """The CJK font posters are drawn in is not installed."""


def report_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/report?grid={quote(code, safe='')}"


def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    if not path.exists():
        raise FontMissingError(f"{path} is missing: apt-get install fonts-noto-cjk")
    return ImageFont.truetype(str(path), size, index=SC)


def _centred(
    draw: ImageDraw.ImageDraw,
    y: int,
    text: str,
    font: ImageFont.FreeTypeFont,
    fill: tuple[int, int, int],
) -> int:
    """Draw ``text`` centred at height ``y``, shrinking nothing; returns the next line's y."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((PAGE[0] - (right - left)) / 2 - left, y), text, font=font, fill=fill)
    return y + int(bottom - top) + int(font.size * 0.6)


def poster(p: Poster, *, base_url: str) -> Image.Image:
    """One page: the title, the grid, its worker, the QR code and its address."""
    page = Image.new("RGB", PAGE, "white")
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, PAGE[0], 250), fill=RED)
    _centred(draw, 45, "随手拍 · 扫码上报", _font(BOLD, 96), (255, 255, 255))
    _centred(draw, 170, "Scan to report a problem here", _font(REGULAR, 40), (255, 255, 255))
    y = _centred(draw, 300, p.name, _font(BOLD, 68), INK)
    y = _centred(draw, y, f"网格 Grid {p.code}", _font(REGULAR, 36), GREY)
    y = _centred(draw, y, f"网格员 Grid worker: {p.worker or '—'}", _font(REGULAR, 48), INK)
    url = report_url(base_url, p.code)
    symbol = segno.make(url, error="m")
    modules = symbol.symbol_size(border=4)[0]
    buffer = io.BytesIO()
    symbol.save(buffer, kind="png", scale=max(1, 820 // modules), border=4)  # whole pixels
    code = Image.open(buffer).convert("L")
    page.paste(code, ((PAGE[0] - code.width) // 2, y + 10))
    y += code.height + 40
    y = _centred(draw, y, url, _font(REGULAR, 28), GREY)
    note = "拍照、定位、提交，可在页面查看处理进度"
    y = _centred(draw, y + 10, note, _font(REGULAR, 38), INK)
    _centred(draw, y, "Photo, place, send — and follow it on the page", _font(REGULAR, 30), GREY)
    return page


def save_posters(pages: list[Image.Image], output: Path) -> None:
    """One page as PNG, any number as a multi-page PDF."""
    if output.suffix.lower() == ".pdf":
        pages[0].save(output, "PDF", save_all=True, append_images=pages[1:], resolution=DPI)
    else:
        pages[0].save(output, "PNG", dpi=(DPI, DPI))
