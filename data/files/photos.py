"""Photos people bring with a report: checked by content (magic bytes, then a full decode by
Pillow — the name and the declared type are never trusted), the EXIF location read as a hint,
turned upright, shrunk to at most ``max_side`` pixels and re-encoded as JPEG without any
metadata, plus a thumbnail; and where the files live, outside the database row: the
``PhotoStorage`` interface, its directory implementation here (``PhotoStore``) and an
S3-compatible bucket in data/files/photo_s3.py. Both store a photo under the same key,
``YYYY/MM/<random>.jpg``, so a directory can be copied into a bucket as it is."""

from __future__ import annotations

import hashlib
import io
import math
import os
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from PIL import Image, ImageOps

from data.errors import NotFoundError, PhotoError, PhotoTooLargeError, StorageUnavailableError

MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
)
MAX_PIXELS = 50_000_000  # a decoded photo larger than this is refused (decompression bombs)
GPS_IFD = 0x8825
CONTENT_TYPE = "image/jpeg"


@dataclass(frozen=True)
class CleanPhoto:
    """A photo as stored: JPEG bytes without metadata, its thumbnail and what was read."""

    data: bytes
    thumb: bytes
    width: int
    height: int
    sha256: str
    exif_lon: float | None
    exif_lat: float | None
    content_type: str = CONTENT_TYPE


def sniff(data: bytes) -> str | None:
    """JPEG, PNG or WEBP by the file's first bytes, else None."""
    for magic, kind in MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _size_text(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} kB"


def clean_photo(
    data: bytes,
    *,
    name: str = "photo",
    size: int | None = None,
    max_bytes: int,
    max_side: int = 1600,
    thumb_side: int = 320,
) -> CleanPhoto:
    """Check and clean one uploaded photo (``size``: its full size when ``data`` holds only
    the start of it); PhotoTooLargeError / PhotoError say why not."""
    size = max(size or 0, len(data))
    if size > max_bytes:
        raise PhotoTooLargeError(
            f"{name} is {_size_text(size)}; at most {_size_text(max_bytes)} per photo"
        )
    kind = sniff(data)
    if kind is None:
        raise PhotoError(f"{name} is not a JPEG, PNG or WebP image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[kind])
            width, height = image.size
            if width * height > MAX_PIXELS or width < 1 or height < 1:
                raise PhotoError(f"{name} is {width}×{height} pixels: too large to take")
            lon, lat = _gps_hint(image)
            if kind == "JPEG":  # decode at the smallest scale still larger than we keep
                image.draft("RGB", (max_side, max_side))
            image.load()
            upright = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise PhotoError(f"{name} is not a readable {kind} image ({exc})") from None
    except Image.DecompressionBombWarning:
        raise PhotoError(f"{name} is too large to take") from None
    rgb = _rgb(upright)
    rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = _jpeg(rgb, quality=85)
    small = rgb.copy()
    small.thumbnail((thumb_side, thumb_side), Image.Resampling.LANCZOS)
    return CleanPhoto(
        data=out,
        thumb=_jpeg(small, quality=75),
        width=rgb.width,
        height=rgb.height,
        sha256=hashlib.sha256(out).hexdigest(),
        exif_lon=lon,
        exif_lat=lat,
    )


def _rgb(image: Image.Image) -> Image.Image:
    """RGB pixels; transparency composed over white."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image.convert("RGB")


def _jpeg(image: Image.Image, *, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)  # no exif=: none written
    return buffer.getvalue()


def _gps_hint(image: Image.Image) -> tuple[float | None, float | None]:
    """The EXIF GPS position (WGS84 by the EXIF standard) as (lon, lat), or (None, None)."""
    try:
        gps: Any = image.getexif().get_ifd(GPS_IFD)
        lat = _degrees(gps.get(2), gps.get(1), "S")
        lon = _degrees(gps.get(4), gps.get(3), "W")
    except Exception:  # any odd EXIF: no hint, never a refusal
        return None, None
    if lon is None or lat is None or not (abs(lon) <= 180 and abs(lat) <= 90):
        return None, None
    return lon, lat


def _degrees(value: Any, ref: Any, negative: str) -> float | None:
    if not value or len(value) != 3:
        return None
    d, m, s = (float(v) for v in value)
    degrees = d + m / 60 + s / 3600
    if not math.isfinite(degrees):
        return None
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    return -degrees if str(ref).strip().upper() == negative else degrees


def new_key(suffix: str = ".jpg") -> str:
    """A fresh, unguessable storage key: ``YYYY/MM/<random><suffix>``."""
    now = datetime.now(UTC)
    return f"{now:%Y}/{now:%m}/{uuid.uuid4().hex}{suffix}"


class PhotoStorage(Protocol):
    """Where photo bytes live, by key. ``put`` writes a whole object under a new key and
    returns it; ``get`` reads one (NotFoundError when it is gone); ``remove`` deletes one (a
    missing one is no error). Failures to reach the storage are StorageUnavailableError."""

    def put(self, data: bytes, *, suffix: str = ".jpg") -> str: ...

    def get(self, key: str) -> bytes: ...

    def remove(self, key: str) -> None: ...

    def describe(self) -> str: ...


class PhotoStore:
    """Photo files under a directory, by key ``YYYY/MM/<random>.jpg``; written whole (to a
    temporary name, then renamed), readable by the service's user only."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, data: bytes, *, suffix: str = ".jpg") -> str:
        key = new_key(suffix)
        path = self.root / key
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_name(path.name + ".part")
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(part, path)
        except OSError as exc:
            raise StorageUnavailableError(f"cannot write {path}: {exc.strerror}") from exc
        return key

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents or not path.is_file():
            raise NotFoundError("the photo's file is missing")
        return path

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError("the photo's file is missing") from None
        except OSError as exc:
            raise StorageUnavailableError(f"cannot read photo {key}: {exc.strerror}") from exc

    def remove(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def describe(self) -> str:
        return f"directory {self.root}"
