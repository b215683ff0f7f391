"""A folder tree of PNG, JPEG and TIFF files as a data source."""
from __future__ import annotations

import os
from pathlib import Path
from typing import ContextManager, Iterator, Optional, Sequence

import numpy as np

from data.readers import (OpenedFile, is_supported, open_file, probe_file, read_frame,
                          read_preview)
from data.sources.base import ImageInfo, Listing, ProblemCallback, SourceError

_ROOTS_HINT = ("add it to BEAMLABEL_DATA_ROOTS (or --data-roots), or start beamlabel with "
               "--data FOLDER")


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def confined(path: Path, roots: Sequence[Path], where: str = "the data roots") -> Path:
    """``path`` resolved (links followed, ``..`` gone) if it lies inside one of ``roots``;
    a SourceError naming ``where`` (the roots, in words) otherwise."""
    if "\x00" in str(path):  # no file system takes it; resolve() would raise ValueError
        raise SourceError("the path contains a NUL character (\\u0000); remove it")
    path = Path(path).expanduser().resolve()
    resolved_roots = [Path(root).expanduser().resolve() for root in roots]
    if not resolved_roots:
        raise SourceError(f"no data roots are configured, so {path} cannot be read; "
                          f"{_ROOTS_HINT}")
    # Checked before existence so that paths outside the roots reveal nothing.
    if not any(_inside(path, root) for root in resolved_roots):
        allowed = ", ".join(str(root) for root in resolved_roots)
        raise SourceError(f"{path} is outside {where} ({allowed}); {_ROOTS_HINT}")
    return path


def check_inside_roots(folder: Path, roots: Sequence[Path]) -> Path:
    """The resolved ``folder`` if it is a readable folder inside one of ``roots``."""
    path = confined(folder, roots)
    if not path.exists():
        raise SourceError(f"the folder {path} does not exist; check the path")
    if not path.is_dir():
        raise SourceError(f"{path} is a file, not a folder; give the folder that holds the "
                          "images")
    try:
        with os.scandir(path):
            pass
    except OSError as error:
        raise SourceError(f"the folder {path} cannot be read ({error.strerror}); check its "
                          "permissions") from error
    return path


class DirectorySource:
    """Every image file under ``location``, by path relative to it (posix)."""

    kind = "directory"

    def __init__(self, location: str):
        self.location = location
        self.root = Path(location).expanduser().resolve()
        self._root_text = str(self.root)
        self._root_prefix = self._root_text.rstrip("/") + "/"  # what a path inside begins with

    def list_items(self, on_problem: ProblemCallback) -> Iterator[Listing]:
        """Image files in path order (folder by folder, names sorted), no file opened.

        Hidden entries and other suffixes are skipped; folders that cannot be read and links
        that are broken or lead outside the folder are reported and skipped.
        """
        try:
            entries = self._sorted_entries(self.root)
        except OSError as error:
            raise SourceError(f"the folder {self.root} cannot be read ({error.strerror}); "
                              "check that it exists and its permissions") from error
        yield from self._walk(entries, "", {self.root}, on_problem)

    @staticmethod
    def _sorted_entries(folder: Path) -> list[os.DirEntry]:
        with os.scandir(folder) as scan:
            return sorted((e for e in scan if not e.name.startswith(".")),
                          key=lambda e: e.name)

    def _walk(self, entries: list[os.DirEntry], prefix: str, visited: set[Path],
              on_problem: ProblemCallback) -> Iterator[Listing]:
        for entry in entries:
            relpath = prefix + entry.name
            if entry.is_symlink() and not self._link_ok(entry, relpath, on_problem):
                continue
            if entry.is_dir():
                yield from self._walk_folder(entry, relpath, visited, on_problem)
            elif is_supported(entry.name):
                if entry.is_file():
                    yield Listing(relpath)
                else:
                    on_problem(relpath, "not a regular file (a pipe, socket or device); skipped")

    def _walk_folder(self, entry: os.DirEntry, relpath: str, visited: set[Path],
                     on_problem: ProblemCallback) -> Iterator[Listing]:
        real = Path(entry.path).resolve() if entry.is_symlink() else Path(entry.path)
        if real in visited:  # a link back into a folder already listed: no loops, no doubles
            return
        visited.add(real)
        try:
            entries = self._sorted_entries(Path(entry.path))
        except OSError as error:
            on_problem(relpath + "/", f"cannot list this folder ({error.strerror}); its images "
                       "are left out: check its permissions")
            return
        yield from self._walk(entries, relpath + "/", visited, on_problem)

    def _link_ok(self, entry: os.DirEntry, relpath: str, on_problem: ProblemCallback) -> bool:
        target = Path(entry.path).resolve()
        if not target.exists():
            # Reported when it may have been an image or (no suffix) a folder of images.
            if is_supported(entry.name) or not os.path.splitext(entry.name)[1]:
                on_problem(relpath, "broken symbolic link (its target does not exist); skipped")
            return False
        if not _inside(target, self.root):
            on_problem(relpath, f"symbolic link to {target}, outside the data set folder; "
                       "skipped")
            return False
        return True

    def _resolve(self, path: str) -> Path:
        """The file of ``path``, refusing anything that leads outside the folder. (What
        ``Path.resolve`` does, on strings: its Path objects were 9 % of a header scan.)"""
        if not path or path.startswith("/") or ".." in path.split("/") or "\x00" in path:
            raise SourceError(f"'{path}' is not a path inside the data set folder")
        full = os.path.realpath(os.path.join(self._root_text, path))
        if not full.startswith(self._root_prefix):
            raise SourceError(f"'{path}' leads outside the data set folder {self.root}")
        return Path(full)

    def file_path(self, path: str) -> Path:
        """The file of ``path`` on disk (exports copy it byte for byte); SourceError when
        ``path`` would lead outside the folder."""
        return self._resolve(path)

    def probe(self, path: str) -> ImageInfo:
        return probe_file(self._resolve(path))

    def read(self, path: str, frame: int = 0, max_size: Optional[int] = None) -> np.ndarray:
        # Local files come whole even with ``max_size``: striding would drop one-pixel Bragg
        # peaks, and jobs that pass it (scattering features) compute from the full frame.
        return read_frame(self._resolve(path), frame)

    def preview(self, path: str, frame: int, max_size: int) -> np.ndarray:
        # Block-averaged, never strided, as the pieces of the file are decoded: the
        # thumbnail is the full frame's.
        return read_preview(self._resolve(path), frame, max_size)

    def open_file(self, path: str) -> ContextManager[OpenedFile]:
        return open_file(self._resolve(path))
