"""Thumbnails: raw values -> downscale -> transform -> colour map -> PNG or WebP bytes."""
from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
import plotly.colors
from PIL import Image, ImageDraw, ImageFont

from data.transforms import Transform, apply_transform

# Colour maps by name, as plotly colour scales. Gray is an exact linear ramp (plotly's own
# 'gray' is cmocean's, which is not linear in the raw values).
COLORMAPS: dict[str, list] = {
    "gray": [[0.0, "rgb(0, 0, 0)"], [1.0, "rgb(255, 255, 255)"]],
    **{name: plotly.colors.get_colorscale(name)
       for name in ("viridis", "magma", "inferno", "plasma", "cividis", "turbo", "jet", "hot")},
}
FORMATS = ("png", "webp")
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


def downscale(raw: np.ndarray, size: int) -> np.ndarray:
    """float32 image whose longer side is ``size``: block means, then PIL for the rest."""
    height, width = raw.shape
    out_height, out_width = fit_size(height, width, size)
    block = max(1, max(height, width) // size)
    image = block_mean(raw, block) if block > 1 else raw.astype(np.float32, copy=False)
    if image.shape == (out_height, out_width):
        return image
    # Mode 'F' keeps the raw values; BOX averages when shrinking, repeats when enlarging.
    resized = Image.fromarray(np.ascontiguousarray(image)).resize((out_width, out_height),
                                                                  Image.Resampling.BOX)
    return np.asarray(resized)


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


def render_thumbnail(raw: np.ndarray, size: int, transform: Transform,
                     colormap: str = "gray", fmt: str = "png") -> bytes:
    """The encoded thumbnail of a 2-D raw array, longer side ``size`` pixels."""
    lut = colormap_lut(colormap)
    _check_format(fmt)
    scaled = apply_transform(downscale(np.asarray(raw), size), transform)
    # A palette image holds the 256-colour map exactly at one byte per pixel: PNGs are
    # about 3x smaller and faster to encode than RGB.
    image = Image.fromarray((scaled * 255.0 + 0.5).astype(np.uint8))
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
