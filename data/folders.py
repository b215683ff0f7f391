"""Browsing the folders under the data roots, for picking a data set folder."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

MAX_SUBFOLDERS = 500


@dataclass(frozen=True)
class FolderView:
    path: Optional[Path]  # None: the list of data roots itself
    parent: Optional[Path]
    subfolders: tuple[Path, ...]
    error: Optional[str] = None


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def browse(folder: Optional[str], roots: Sequence[Path]) -> FolderView:
    """The sub-folders of ``folder``; the data roots when no folder (or one outside) is given."""
    if not folder:
        return FolderView(None, None, tuple(roots))
    path = Path(folder).expanduser().resolve()
    if not _inside(path, roots):
        return FolderView(None, None, tuple(roots),
                          error=f"{path} is outside the data roots; pick a folder below")
    try:
        with os.scandir(path) as entries:
            names = sorted(e.name for e in entries
                           if e.is_dir() and not e.name.startswith("."))[:MAX_SUBFOLDERS]
    except OSError as error:
        return FolderView(path, path.parent, (), error=f"cannot read {path}: {error.strerror}")
    parent = path.parent if path not in roots else None
    return FolderView(path, parent, tuple(path / name for name in names))
