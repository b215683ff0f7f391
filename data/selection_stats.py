"""Mean and standard-deviation images of a selection of items, on the transformed images.

Reading thousands of detector frames takes far longer than a click may, so the images are
read once into a *stack*: every item downscaled (block means, as for thumbnails) to a
fixed square size, transformed (log, percentile clipping) and stored as uint8 in a
memory-mapped ``.npy`` file. A selection's statistics are then a gather of its rows
(plus, for a stack of a sample of the items, a few images read on demand).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
from PIL import Image

from data.sources.base import DataSource, SourceError, UnreadableImage
from data.thumbnails import downscale
from data.transforms import Transform, apply_transform

READ_ERRORS = (UnreadableImage, SourceError, OSError, ValueError)
GATHER_ROWS = 256  # rows summed at a time: memory stays small for any selection;
# 256 * 255**2 fits the uint32 partial sums


def square_image(raw: np.ndarray, size: int, transform: Transform) -> np.ndarray:
    """A raw 2-D frame as a (size, size) float32 image in [0, 1], downscaled then transformed
    like a thumbnail (non-square frames are stretched to the square)."""
    image = downscale(np.asarray(raw), size)
    if image.shape != (size, size):
        image = np.asarray(Image.fromarray(np.ascontiguousarray(image, dtype=np.float32))
                           .resize((size, size), Image.Resampling.BOX))
    return apply_transform(image, transform)


def stack_image(raw: np.ndarray, size: int, transform: Transform) -> np.ndarray:
    """A raw frame as one uint8 (size, size) row of a stack."""
    return (square_image(raw, size, transform) * 255.0 + 0.5).astype(np.uint8)


def read_into(stack: np.ndarray, source: DataSource, items: Sequence, transform: Transform,
              on_progress: Optional[Callable[[int], None]] = None,
              should_stop: Callable[[], bool] = lambda: False) -> np.ndarray:
    """Fill the uint8 (n, size, size) ``stack`` with the images of ``items`` (objects with
    path and frame); returns a bool array, False for the items that could not be read
    (their rows are left as they were)."""
    size = stack.shape[1]
    readable = np.ones(len(items), dtype=bool)
    for row, item in enumerate(items):
        if row % 256 == 0:
            if should_stop():
                break
            if on_progress is not None:
                on_progress(row)
        try:
            stack[row] = stack_image(source.read(item.path, item.frame), size, transform)
        except READ_ERRORS:
            readable[row] = False
    return readable


def build_stack(source: DataSource, items: Sequence, size: int, transform: Transform,
                path: Path, on_progress: Optional[Callable[[int], None]] = None,
                should_stop: Callable[[], bool] = lambda: False) -> np.ndarray:
    """Write the uint8 (n, size, size) stack of ``items`` to ``path``; returns a bool
    array, False for the items that could not be read (zeros)."""
    stack = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8,
                                      shape=(len(items), size, size))
    readable = read_into(stack, source, items, transform, on_progress, should_stop)
    stack.flush()
    return readable


@dataclass(frozen=True)
class SelectionStats:
    mean: np.ndarray  # float32 (size, size), values in [0, 1]
    std: np.ndarray
    count: int  # images that went into the statistics


def selection_stats(stack: np.ndarray, rows: np.ndarray,
                    extra: Optional[np.ndarray] = None) -> SelectionStats:
    """Mean and standard deviation over the ``rows`` of a uint8 stack (rows sorted here, so
    a memory-mapped stack is read front to back) and the uint8 images ``extra`` of the
    same size, read apart from the stack."""
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    shape = stack.shape[1:]
    extra = np.empty((0, *shape), dtype=np.uint8) if extra is None else extra
    count = len(rows) + len(extra)
    if count == 0:
        empty = np.zeros(shape, dtype=np.float32)
        return SelectionStats(empty, empty, 0)
    chunks = chain((stack[rows[start:start + GATHER_ROWS]]  # gathered one at a time
                    for start in range(0, len(rows), GATHER_ROWS)),
                   (extra[start:start + GATHER_ROWS]
                    for start in range(0, len(extra), GATHER_ROWS)))
    # Integer sums: exact, and several times faster than summing float copies.
    total = np.zeros(int(np.prod(shape)), dtype=np.uint64)
    squares = np.zeros_like(total)
    for chunk in chunks:
        chunk = chunk.reshape(-1, total.size)
        total += chunk.sum(axis=0, dtype=np.uint32)  # GATHER_ROWS * 255 fits
        wide = chunk.astype(np.uint16)
        squares += np.multiply(wide, wide, out=wide).sum(axis=0, dtype=np.uint32)
    mean = total / count
    variance = np.maximum(squares / count - mean * mean, 0.0)
    scale = 1.0 / 255.0
    return SelectionStats((mean * scale).astype(np.float32).reshape(shape),
                          (np.sqrt(variance) * scale).astype(np.float32).reshape(shape),
                          count)
