"""A block of raw pixel values of one image, for a viewer's read-out: confined to the
image, limited in size, and written so that JSON can carry every value (NaN and the
infinities as words, float32 values in their shortest form)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from errors import DomainError

MAX_BLOCK = 128  # pixels a side: 16,384 values, about 200 kB of JSON at most
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}

Value = Union[int, float, str]


@dataclass(frozen=True)
class PixelBlock:
    x: int  # column of the block's first value
    y: int  # row of the block's first value
    values: list[list[Value]]  # rows of raw values, top row first


def _checked_start(name: str, start: int, extent: int, side: str) -> None:
    if not 0 <= start < extent:
        raise DomainError(f"{name} must be a pixel of the image: 0 to {extent - 1} (its "
                          f"{side} is {extent} pixels), not {start}", name)


def _float_value(value) -> Value:
    """float32 and float16 by their shortest repr (0.1, not 0.10000000149...), so the
    read-out shows the stored value; NaN and the infinities by name."""
    if np.isfinite(value):
        return float(str(value)) if value.dtype.itemsize < 8 else float(value)
    return NON_FINITE[str(float(value)).lower()]


def read_block(raw: np.ndarray, x: int, y: int, width: int, height: int) -> PixelBlock:
    """The raw values of the ``width`` x ``height`` block whose top-left pixel is (x, y),
    cut at the image's edges. A start outside the image, or a block larger than
    ``MAX_BLOCK`` a side, is a DomainError naming the parameter."""
    rows, columns = raw.shape[:2]
    _checked_start("x", x, columns, "width")
    _checked_start("y", y, rows, "height")
    for name, size in (("width", width), ("height", height)):
        if not 1 <= size <= MAX_BLOCK:
            raise DomainError(f"{name} must be 1 to {MAX_BLOCK} pixels, not {size}", name)
    block = raw[y:y + height, x:x + width]
    if block.dtype.kind == "f":
        values = [[_float_value(value) for value in row] for row in block]
    elif block.dtype.kind == "b":
        values = block.astype(np.uint8).tolist()
    elif block.dtype.kind in "iu":
        values = block.tolist()
    else:
        raise DomainError(f"pixels of type {block.dtype} have no single raw value to show",
                          "item_id", status=409)
    return PixelBlock(x=x, y=y, values=values)
