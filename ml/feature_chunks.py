"""Rows appended to a finished feature job: the vectors of items that arrived after it ran.

A chunk is a folder ``live/<number>/`` in the job's artifact folder holding one ``.npy``
file per per-row array of the job (``item_ids.npy``, its vectors, ``probabilities.npy``
for a classifier), all with the same number of rows. It is written under a temporary
name and renamed into place, so a reader sees a chunk whole or not at all; two writers
racing for the same number both succeed, one at the next number. Chunks are never changed
after they appear, but small ones are merged: a reader opens every chunk, and a day of
arrivals in batches of a few images would leave tens of thousands. A merge writes the
rows of the small chunks as the next chunk, then moves them out of sight and deletes
them, never while a reader lists and loads chunks (a file lock, shared by readers); a
reader that sees both keeps each item's first row. numpy-level only: the web process imports it.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

LIVE_FOLDER = "live"
NUMBER_DIGITS = 5
MERGE_AT = 16  # small chunks: merged into one when this many lie after the last large one
LARGE_ROWS = 4096  # a chunk with this many rows stays as it is
LOCK_FILE = ".lock"


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


def newest_number(artifact_dir: str | Path) -> int:
    """The number of the newest chunk (0: none); it only grows, merges included."""
    chunks = chunk_folders(artifact_dir)
    return _number_of(chunks[-1].name) if chunks else 0


def _load(folders: list[Path], keys: tuple[str, ...]) -> list[list[np.ndarray]]:
    return [[np.load(folder / f"{key}.npy") for folder in folders] for key in keys]


@contextmanager
def _chunks_kept(artifact_dir: str | Path, exclusive: bool = False) -> Iterator[None]:
    """Readers hold this shared while they list and load chunks; a merge holds it
    exclusively while it removes the chunks it merged, so no reader loses one."""
    live = Path(artifact_dir) / LIVE_FOLDER
    try:
        handle = open(live / LOCK_FILE, "a+b")
    except FileNotFoundError:  # no chunk yet
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def read_chunks(artifact_dir: str | Path, keys: tuple[str, ...]) -> list[list[np.ndarray]]:
    """Per key, that array of every chunk, oldest first, all from one listing."""
    with _chunks_kept(artifact_dir):
        return _load(chunk_folders(artifact_dir), keys)


def first_rows(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The rows (of every array, keyed like a chunk's files) of each item's first
    appearance, in their order."""
    _unique, first = np.unique(arrays["item_ids"], return_index=True)
    if len(first) == len(arrays["item_ids"]):
        return arrays
    keep = np.sort(first)
    return {key: values[keep] for key, values in arrays.items()}


def merge_small_chunks(artifact_dir: str | Path) -> Optional[Path]:
    """When MERGE_AT or more chunks of fewer than LARGE_ROWS rows follow the last large
    one, write their rows as the next chunk and remove them; the new chunk, or None."""
    small: list[Path] = []
    with _chunks_kept(artifact_dir):
        for folder in chunk_folders(artifact_dir):
            rows = len(np.load(folder / "item_ids.npy", mmap_mode="r"))
            small = [] if rows >= LARGE_ROWS else [*small, folder]
        if len(small) < MERGE_AT:
            return None
        keys = tuple(path.stem for path in small[0].glob("*.npy"))
        arrays = dict(zip(keys, (np.concatenate(parts) for parts in _load(small, keys))))
    merged = append_chunk(artifact_dir, first_rows(arrays))
    gone = []
    with _chunks_kept(artifact_dir, exclusive=True):
        for folder in small:
            hidden = folder.with_name(f".gone-{folder.name}-{os.getpid()}")
            try:
                os.rename(folder, hidden)  # out of every listing at once
            except FileNotFoundError:
                continue  # another process merged it meanwhile
            gone.append(hidden)
    for hidden in gone:
        shutil.rmtree(hidden, ignore_errors=True)
    return merged
