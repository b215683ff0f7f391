"""Per-item vectors of a frozen model over streamed batches: the inference loop every
feature job shares (on CUDA when there is one, mixed precision there, cancel per batch)."""
from __future__ import annotations

from typing import Callable, Iterable, Iterator, Optional

import numpy as np
import torch
from torch import nn

from ml.training import autocast, pick_device, prepare_batch, prepare_model


def encode_batches(model: nn.Module, batches: Iterable[tuple[list, torch.Tensor]],
                   should_stop: Optional[Callable[[], bool]] = None,
                   prepare: Callable[[torch.Tensor], torch.Tensor] = lambda batch: batch,
                   ) -> tuple[list, np.ndarray]:
    """(item ids, float32 (n, d) vectors) of ``model(prepare(batch))`` for every batch of
    ``batches``, which yield (item ids, (b, 1, M, N) tensor) as ml.image_data.iter_batches
    does; stops after the batch at which ``should_stop()`` turns true."""
    device = pick_device()
    model = prepare_model(model, device).eval()
    ids: list = []
    vectors: list[np.ndarray] = []
    for batch_ids, batch in batches:
        with torch.inference_mode(), autocast(device):
            encoded = model(prepare_batch(prepare(batch), device))
        vectors.append(encoded.float().flatten(1).cpu().numpy())
        ids.extend(batch_ids)
        if should_stop is not None and should_stop():
            break
    return ids, (np.concatenate(vectors) if vectors else np.zeros((0, 0), np.float32))


def in_batches(item_ids: list, images: np.ndarray, batch_size: int
               ) -> Iterator[tuple[list, torch.Tensor]]:
    """Batches, as :func:`encode_batches` takes them, of images already in memory."""
    for start in range(0, len(item_ids), batch_size):
        yield (item_ids[start:start + batch_size],
               torch.from_numpy(images[start:start + batch_size]))
