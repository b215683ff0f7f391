"""A local copy of a remote data set's frames, made once and read from then on.

Training reads every image once per run; over a Tiled server that would move the whole
data set across the network for each run. Wrapped in :class:`LocalCopySource`, each raw
frame is fetched once and kept as a .npy file; inference does not use it (it streams).
A strided read (``max_size``) is kept apart from the full frame: each is fetched once.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional

import numpy as np

from data.sources.base import DataSource


class LocalCopySource:
    """Delegates to ``source``; full-resolution reads go through files under ``folder``."""

    def __init__(self, source: DataSource, folder: Path):
        self._source = source
        self.folder = Path(folder)

    def __getattr__(self, name: str):
        return getattr(self._source, name)

    def _copy_path(self, path: str, frame: int, max_size: Optional[int]) -> Path:
        name = f"{path}\0{frame}" if max_size is None else f"{path}\0{frame}\0{max_size}"
        key = hashlib.sha1(name.encode()).hexdigest()
        return self.folder / key[:2] / f"{key}.npy"

    def read(self, path: str, frame: int = 0, max_size: Optional[int] = None) -> np.ndarray:
        copy = self._copy_path(path, frame, max_size)
        if copy.is_file():
            return np.load(copy)
        values = self._source.read(path, frame, max_size)
        copy.parent.mkdir(parents=True, exist_ok=True)
        partial = copy.with_suffix(f".{os.getpid()}.part")
        with open(partial, "wb") as out:
            np.save(out, values)
        os.replace(partial, copy)  # whole or absent, also with two jobs at once
        return values
