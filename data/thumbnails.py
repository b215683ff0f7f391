"""Thumbnails: raw values -> downscale -> transform -> colour map -> PNG or WebP bytes.

``Thumbnail`` names one rendering (size, transform, colour map, format): its cache key and
its render from a source are the one definition the thumbnail route and the header scan
(which renders ``DEFAULT_THUMBNAIL`` while a file is open) both use.
"""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Callable

import numpy as np
import plotly.colors
from PIL import Image, ImageDraw, ImageFont

from data.sources.base import DataSource, OpenedImage, TooLargeForPreview

try:  # zlib-ng's level 1 deflates a 128-px tile in 40-60 us, zlib's in 90-220
    from zlib_ng.zlib_ng import compress as deflate
except ImportError:
    from zlib import compress as deflate
from data.transforms import Transform, apply_transform

# Colour maps by name, as plotly colour scales. Gray is an exact linear ramp (plotly's own
# 'gray' is cmocean's, which is not linear in the raw values).
COLORMAPS: dict[str, list] = {
    "gray": [[0.0, "rgb(0, 0, 0)"], [1.0, "rgb(255, 255, 255)"]],
    **{name: plotly.colors.get_colorscale(name)
       for name in ("viridis", "magma", "inferno", "plasma", "cividis", "turbo", "jet", "hot")},
}
FORMATS = ("png", "webp")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WEBP_QUALITY = 90


def colormap_names() -> list[str]:
    return list(COLORMAPS)


@lru_cache(maxsize=None)
def colormap_lut(name: str) -> np.ndarray:
    """The (256, 3) uint8 colours of colour map ``name``; ValueError for unknown names."""
    if name not in COLORMAPS:
        raise ValueError(f"unknown colour map '{name}'; choose one of "
                         f"{', '.join(colormap_names())}")
    colours = plotly.colors.sample_colorscale(COLORMAPS[name], np.linspace(0.0, 1.0, 256))
    lut = np.array([plotly.colors.unlabel_rgb(c) for c in colours], dtype=np.float64)
    lut = np.rint(lut).clip(0, 255).astype(np.uint8)
    lut.flags.writeable = False
    return lut


def fit_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) of an image scaled so that its longer side is ``size``."""
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def block_mean(raw: np.ndarray, block: int) -> np.ndarray:
    """float32 means over block x block squares (the last partial rows/columns dropped)."""
    rows, cols = raw.shape[0] // block, raw.shape[1] // block
    # Summing block**2 strided slices is ~10x faster than reshape(...).mean(axis=(1, 3)).
    total = np.zeros((rows, cols), dtype=np.float32)
    for i in range(block):
        for j in range(block):
            total += raw[i:rows * block:block, j:cols * block:block]
    total *= 1.0 / (block * block)
    return total


def first_block(height: int, width: int, size: int) -> int:
    """The block ``downscale`` averages over first: the longer side // ``size``, but no more
    than the shorter side (a 1 x 5000 line scan would have no row of blocks left)."""
    return max(1, min(max(height, width) // size, height, width))


def _reduce(raw: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """What ``downscale`` gives, as an image and the whole factors (rows, columns) by which
    it is still to be enlarged ((1, 1): it is the result)."""
    height, width = raw.shape
    out_height, out_width = fit_size(height, width, size)
    block = first_block(height, width, size)
    image = block_mean(raw, block) if block > 1 else raw.astype(np.float32, copy=False)
    if image.shape == (out_height, out_width):
        return image, (1, 1)
    rows, cols = out_height // image.shape[0], out_width // image.shape[1]
    if (image.shape[0] * rows, image.shape[1] * cols) == (out_height, out_width):
        # Enlarging by whole factors: BOX repeats each value, as np.repeat does (faster).
        return image, (rows, cols)
    # Mode 'F' keeps the raw values; BOX averages when shrinking, repeats when enlarging.
    resized = Image.fromarray(np.ascontiguousarray(image)).resize((out_width, out_height),
                                                                  Image.Resampling.BOX)
    return np.asarray(resized), (1, 1)


def _enlarge(image: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    rows, cols = factors
    if (rows, cols) == (1, 1):
        return image
    # columns first: repeating the wider rows after is a copy of whole rows (10 us, not
    # 17, for a 64-px image enlarged to 128)
    return np.repeat(np.repeat(image, cols, axis=1), rows, axis=0)


def downscale(raw: np.ndarray, size: int) -> np.ndarray:
    """float32 image whose longer side is ``size``: block means, then PIL for the rest."""
    return _enlarge(*_reduce(raw, size))


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown image format '{fmt}'; choose one of {', '.join(FORMATS)}")


def encode(image: Image.Image, fmt: str) -> bytes:
    _check_format(fmt)
    buffer = io.BytesIO()
    if fmt == "png":
        image.save(buffer, format="PNG", compress_level=1)
    else:
        image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=0)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def palette_png(indices: np.ndarray, lut: np.ndarray) -> bytes:
    """The PNG of a 2-D uint8 array of indices into ``lut``'s 256 colours. Written here, not
    by Pillow, which tries five filters on every row (about half its time for a 128-px
    tile, the half of a thumbnail's render): rows are left unfiltered, as the PNG
    specification advises for palette images, and deflated at level 1."""
    height, width = indices.shape
    rows = np.zeros((height, width + 1), np.uint8)  # each row led by its filter type, 0
    rows[:, 1:] = indices
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # 8-bit palette
    return b"".join((PNG_SIGNATURE, _png_chunk(b"IHDR", header),
                     _png_chunk(b"PLTE", lut.tobytes()),
                     _png_chunk(b"IDAT", deflate(rows.tobytes(), 1)),
                     _png_chunk(b"IEND", b"")))


def render_thumbnail(raw: np.ndarray, size: int, transform: Transform,
                     colormap: str = "gray", fmt: str = "png") -> bytes:
    """The encoded thumbnail of a 2-D raw array, longer side ``size`` pixels."""
    lut = colormap_lut(colormap)
    _check_format(fmt)
    image, factors = _reduce(np.asarray(raw), size)
    # An image enlarged by whole factors (smaller than the tile) is transformed first, its
    # percentiles being those of its own pixels, and its 8-bit levels repeated after.
    levels = _enlarge((apply_transform(image, transform) * 255.0 + 0.5).astype(np.uint8),
                      factors)
    # A palette image holds the 256-colour map exactly at one byte per pixel: PNGs are
    # about 3x smaller and faster to encode than RGB.
    if fmt == "png":
        return palette_png(levels, lut)
    image = Image.fromarray(levels)
    image.putpalette(lut.tobytes())
    return encode(image, fmt)


UNREADABLE_BACKGROUND = (110, 20, 20)
UNREADABLE_INK = (255, 215, 215)


@lru_cache(maxsize=32)
def render_unreadable(size: int, fmt: str = "png") -> bytes:
    """A dark red tile with a cross and the word 'unreadable', for files that cannot be read."""
    image = Image.new("RGB", (size, size), UNREADABLE_BACKGROUND)
    draw = ImageDraw.Draw(image)
    line = max(1, size // 40)
    draw.line([(0, 0), (size - 1, size - 1)], fill=UNREADABLE_INK, width=line)
    draw.line([(0, size - 1), (size - 1, 0)], fill=UNREADABLE_INK, width=line)
    font = ImageFont.load_default(size=max(8, size // 7))
    text = "unreadable"
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x, y = (size - (right - left)) / 2 - left, (size - (bottom - top)) / 2 - top
    pad = max(1, size // 32)
    draw.rectangle([x + left - pad, y + top - pad, x + right + pad, y + bottom + pad],
                   fill=UNREADABLE_BACKGROUND)
    draw.text((x, y), text, fill=UNREADABLE_INK, font=font)
    return encode(image, fmt)


@dataclass(frozen=True)
class Thumbnail:
    """One way to render an item's thumbnail, as the route's query string names it."""

    size: int = 128
    transform: Transform = field(default_factory=lambda: Transform(log=True))
    colormap: str = "gray"
    fmt: str = "png"

    def cache_key(self, item_id: int) -> str:
        transform = self.transform
        return f"thumb:{item_id}:{self.fmt}:{self.size}:{transform.log:d}:" \
               f"{transform.pmin:g}:{transform.pmax:g}:{self.colormap}"

    def render(self, source: DataSource, path: str, frame: int = 0) -> bytes:
        """The thumbnail of one frame read from ``source``; an image too large to decode
        for a preview gets the unreadable tile (the item itself is fine). Raises
        UnreadableImage for a file that cannot be read, SourceError when the source is down."""
        return self._render(partial(source.preview, path, frame, self.size))

    def render_opened(self, image: OpenedImage, frame: int = 0) -> bytes:
        """``render`` of a file the source has opened already (``open_file``)."""
        return self._render(partial(image.preview, frame, self.size))

    def _render(self, preview: Callable[[], np.ndarray]) -> bytes:
        try:
            raw = preview()
        except TooLargeForPreview:
            return render_unreadable(self.size, self.fmt)
        return render_thumbnail(raw, self.size, self.transform, self.colormap, self.fmt)


# What the label page asks for first (its default tile size, log scale, 1-99 %, gray):
# the header scan renders it, so a scanned data set's first page is served from the cache.
DEFAULT_THUMBNAIL = Thumbnail()
