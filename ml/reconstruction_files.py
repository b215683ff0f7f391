"""Original/reconstruction image pairs saved as PNG files in a job's artifact folder.

The autoencoder page shows them side by side through the job-files route; a few pairs
per job are enough to judge a model, and PNGs cost the page nothing to render.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

FOLDER = "reconstructions"


def _to_png(image: np.ndarray, path: Path) -> None:
    pixels = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, optimize=True)


def save_pairs(artifact_dir: Path, item_ids: Sequence[int], originals: np.ndarray,
               reconstructions: np.ndarray, errors: Sequence[float]) -> list[dict]:
    """Write (n, 1, M, N) model inputs and outputs in [0, 1] as PNG pairs; the rows for
    the job result: item id, error and the two file names relative to ``artifact_dir``."""
    folder = Path(artifact_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for item_id, original, reconstruction, error in zip(item_ids, originals, reconstructions,
                                                       errors):
        names = {"original": f"{FOLDER}/{item_id}-original.png",
                 "reconstruction": f"{FOLDER}/{item_id}-reconstruction.png"}
        _to_png(original[0], Path(artifact_dir) / names["original"])
        _to_png(reconstruction[0], Path(artifact_dir) / names["reconstruction"])
        rows.append({"item_id": int(item_id), "error": float(error), **names})
    return rows
