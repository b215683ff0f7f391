"""Replaying a data set as if its images were arriving now.

Each frame of the data set's items is written, in the given order and at a chosen rate,
as one TIFF into a folder that a live data set watches, so a replay drives exactly the
path that a running experiment does. A file is written under a temporary name and renamed
when complete, as detector software does, so a watcher never sees half of one. A
single-frame file of a folder data set is hard-linked instead of copied when it can be.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import tifffile

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.sources.base import DataSource, SourceError, UnreadableImage
from db.models import Dataset, Item

log = logging.getLogger(__name__)
MAX_RATE = 1000.0  # images per second
PARTIAL_SUFFIX = ".part"


@dataclass(frozen=True)
class ReplayItem:
    """One image to replay: where the source has it, and the name it arrives under."""
    path: str
    frame: int
    arrival_name: str


def arrival_names(paths_and_frames: Sequence[tuple[str, int]]) -> list[ReplayItem]:
    """Replay items named by their position (``000123_scan_7.tif``), so the names sort in
    arrival order and say which original each one is."""
    width = max(6, len(str(len(paths_and_frames))))
    items = []
    for position, (path, frame) in enumerate(paths_and_frames):
        stem = Path(path).stem.replace(os.sep, "_")[:80]
        suffix = f"_f{frame}" if frame else ""
        items.append(ReplayItem(path, frame, f"{position:0{width}d}_{stem}{suffix}.tif"))
    return items


def replay_items(session: Session, dataset: Dataset
                 ) -> tuple[list[ReplayItem], dict[str, Path]]:
    """A data set's readable frames in arrival order (its file order: what arrived live
    was numbered after what was there) and, for a folder data set, the files that are one
    frame each (they can be hard-linked)."""
    rows = session.execute(select(Item.path, Item.frame).where(
        Item.dataset_id == dataset.id, Item.status == "ok").order_by(Item.sort_key)).all()
    items = arrival_names([(path, frame) for path, frame in rows])
    originals: dict[str, Path] = {}
    if dataset.source_kind == "directory":
        stacks = set(session.scalars(select(Item.path).where(
            Item.dataset_id == dataset.id).group_by(Item.path).having(func.count() > 1)))
        originals = {item.path: Path(dataset.location) / item.path
                     for item in items if item.path not in stacks}
    return items, originals


def check_rate(rate: object) -> float:
    """A replay rate in images per second; ValueError naming what to give otherwise."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) \
            or not 0 < float(rate) <= MAX_RATE:
        raise ValueError(f"rate must be a number of images per second above 0 and at most "
                         f"{MAX_RATE:g}, got {rate!r}")
    return float(rate)


def _link_or_copy(original: Path, target: Path) -> bool:
    """Hard-link a whole original file; False when the file system cannot."""
    try:
        os.link(original, target)
    except OSError:
        return False
    return True


def write_arrival(source: DataSource, item: ReplayItem, folder: Path,
                  original: Optional[Path] = None) -> Path:
    """Write one replayed image into ``folder``, whole or not at all; its final path."""
    final = folder / item.arrival_name
    partial = folder / f".{item.arrival_name}{PARTIAL_SUFFIX}"
    if original is not None and original.suffix.lower() in (".tif", ".tiff") \
            and _link_or_copy(original, partial):
        os.replace(partial, final)
        return final
    frame = np.asarray(source.read(item.path, item.frame))
    tifffile.imwrite(partial, frame)
    os.replace(partial, final)
    return final


def replay(source: DataSource, items: Sequence[ReplayItem], folder: Path, rate: float,
           should_stop: Callable[[], bool] = lambda: False,
           original_of: Callable[[ReplayItem], Optional[Path]] = lambda item: None,
           on_written: Callable[[int, Path], None] = lambda done, path: None,
           clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> int:
    """Write ``items`` into ``folder`` at ``rate`` images per second, on schedule (a slow
    write is caught up, not added to every later one); returns how many were written.

    ``original_of`` gives the file of an item that is a whole single-frame file (to
    hard-link), None for the others; ``on_written`` hears
    each one written (its count and path); ``should_stop`` ends the replay early. An
    image that cannot be read any more is left out (and logged): the experiment goes on.
    """
    rate = check_rate(rate)
    folder.mkdir(parents=True, exist_ok=True)
    start = clock()
    written = 0
    for position, item in enumerate(items):
        delay = start + position / rate - clock()
        if delay > 0:
            sleep(delay)
        if should_stop():
            break
        try:
            path = write_arrival(source, item, folder, original_of(item))
        except (UnreadableImage, SourceError) as error:
            log.warning("replay into %s leaves out %s: %s", folder, item.path, error)
            continue
        written += 1
        on_written(written, path)
    return written
