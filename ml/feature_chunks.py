"""Rows appended to a finished feature job: the vectors of items that arrived after it ran.

A chunk is a folder ``live/<number>/`` in the job's artifact folder holding one ``.npy``
file per per-row array of the job (``item_ids.npy``, its vectors, ``probabilities.npy``
for a classifier), all with the same number of rows. It is written under a temporary
name and renamed into place, so a reader sees a chunk whole or not at all; two writers
racing for the same number both succeed, one at the next number. Chunks are never changed
after they appear. numpy-level only: the web process imports it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

LIVE_FOLDER = "live"
NUMBER_DIGITS = 5


def chunk_folders(artifact_dir: str | Path) -> list[Path]:
    """The job's complete chunks, oldest first."""
    live = Path(artifact_dir) / LIVE_FOLDER
    try:
        names = os.listdir(live)
    except FileNotFoundError:
        return []
    return [live / name for name in sorted(names, key=_number_of) if name.isdigit()]


def _number_of(name: str) -> int:
    return int(name) if name.isdigit() else -1


def append_chunk(artifact_dir: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Store ``arrays`` (file key -> per-row array, ``item_ids`` among them) as the job's
    next chunk; its folder."""
    rows = {len(values) for values in arrays.values()}
    if "item_ids" not in arrays or len(rows) != 1:
        raise ValueError("a chunk needs item_ids and the same number of rows in every array")
    live = Path(artifact_dir) / LIVE_FOLDER
    live.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".part-", dir=live))
    try:
        for key, values in arrays.items():
            np.save(staging / f"{key}.npy", values)
        while True:
            existing = chunk_folders(artifact_dir)
            number = _number_of(existing[-1].name) + 1 if existing else 1
            target = live / f"{number:0{NUMBER_DIGITS}d}"
            try:
                os.rename(staging, target)  # fails when another writer took this number
                return target
            except OSError:
                if not target.exists():
                    raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def chunk_arrays(artifact_dir: str | Path, key: str) -> list[np.ndarray]:
    """Array ``key`` of every chunk, oldest first."""
    return [np.load(folder / f"{key}.npy") for folder in chunk_folders(artifact_dir)]
