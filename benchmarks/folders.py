"""Large folders of images made fast: one file encoded, the rest byte copies of it."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

FILES_PER_FOLDER = 1000


def copies_folder(folder: Path, n_files: int, suffix: str,
                  write_first: Callable[[Path], None]) -> None:
    """``n_files`` images ``run_NNN/img_NNNNNN.<suffix>``, FILES_PER_FOLDER per sub-folder:
    the first written by ``write_first``, the others copies of its bytes."""
    payload = None
    for i in range(n_files):
        sub = folder / f"run_{i // FILES_PER_FOLDER:03d}"
        if i % FILES_PER_FOLDER == 0:
            sub.mkdir(parents=True)
        path = sub / f"img_{i:06d}.{suffix}"
        if payload is None:
            write_first(path)
            payload = path.read_bytes()
        else:
            path.write_bytes(payload)
