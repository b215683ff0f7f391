"""Model inputs from a data source: raw frames, the shared intensity transform, a resize.

``load_images`` reads a whole (training) set into one array; ``iter_batches`` streams
batches for inference over data sets that do not fit in memory. Items that cannot be read
are skipped and reported, never fatal.
"""
from __future__ import annotations

from typing import Callable, Iterator, NamedTuple, Optional, Protocol, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from data.sources.base import DataSource, SourceError, UnreadableImage
from data.transforms import Transform, apply_transform

# What a read may raise for one bad item; anything else is a bug and propagates.
READ_ERRORS = (UnreadableImage, SourceError, OSError, ValueError)

FailureCallback = Callable[[int, str], None]  # (item id, message)


class ItemRef(Protocol):
    """An item to read: db.models.Item or anything with these attributes."""

    id: int
    path: str
    frame: int


class LoadedImages(NamedTuple):
    images: np.ndarray  # float32 (n, 1, M, N), values in [0, 1]
    item_ids: list[int]  # the id of each row of ``images``
    failed: dict[int, str]  # item id -> why it was skipped


def resize(image: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """A 2-D float32 array resized to ``image_size`` (area-weighted when shrinking)."""
    if image.shape == tuple(image_size):
        return image
    tensor = torch.from_numpy(np.ascontiguousarray(image))[None, None]
    resized = F.interpolate(tensor, size=tuple(image_size), mode="bilinear",
                            align_corners=False, antialias=True)
    return resized[0, 0].clamp_(0, 1).numpy()


def read_image(source: DataSource, item: ItemRef, image_size: tuple[int, int],
               transform: Transform, read_side: Optional[int] = None) -> np.ndarray:
    """One item as a transformed, resized (M, N) float32 array; raises READ_ERRORS.

    With ``read_side`` the source reads a strided frame whose longer side is at least that
    (a remote source strides on the server, so only those pixels cross the network)."""
    raw = source.read(item.path, item.frame, read_side)
    if raw.ndim != 2:
        raise UnreadableImage(f"expected a 2-D frame, got shape {raw.shape}")
    return resize(apply_transform(raw, transform), image_size)


def load_images(source: DataSource, items: Sequence[ItemRef], image_size: tuple[int, int],
                transform: Transform, read_side: Optional[int] = None) -> LoadedImages:
    """Every readable item as one (n, 1, M, N) float32 array, in the order of ``items``."""
    images = np.empty((len(items), 1, *image_size), dtype=np.float32)
    item_ids: list[int] = []
    failed: dict[int, str] = {}
    for item in items:
        try:
            images[len(item_ids), 0] = read_image(source, item, image_size, transform,
                                                  read_side)
        except READ_ERRORS as error:
            failed[item.id] = str(error) or type(error).__name__
            continue
        item_ids.append(item.id)
    return LoadedImages(images[:len(item_ids)], item_ids, failed)


def iter_batches(source: DataSource, items: Sequence[ItemRef], image_size: tuple[int, int],
                 transform: Transform, batch_size: int,
                 on_failure: Optional[FailureCallback] = None,
                 read_side: Optional[int] = None) -> Iterator[tuple[list[int], torch.Tensor]]:
    """(item ids, (b, 1, M, N) float32 tensor) batches; unreadable items are skipped and
    passed to ``on_failure``. Memory holds one batch, whatever the data set's size."""
    buffer = np.empty((batch_size, 1, *image_size), dtype=np.float32)
    ids: list[int] = []
    for item in items:
        try:
            buffer[len(ids), 0] = read_image(source, item, image_size, transform, read_side)
        except READ_ERRORS as error:
            if on_failure is not None:
                on_failure(item.id, str(error) or type(error).__name__)
            continue
        ids.append(item.id)
        if len(ids) == batch_size:
            yield ids, torch.from_numpy(buffer.copy())
            ids = []
    if ids:
        yield ids, torch.from_numpy(buffer[:len(ids)].copy())
