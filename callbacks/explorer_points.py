"""Which item each point of the explorer's plot is, for hover, click, lasso and box events.

Dash's graph reads ``customdata`` for its events by indexing the trace as the figure gave
it, which for a typed array (the only way 100,000 ids travel cheaply) is the still-encoded
``{dtype, bdata}`` object: hovers and selections came back without ids (plotly/dash#3196,
plotly/plotly.py#5119).
So the figure carries no ids. What every event point does carry is its trace
(``curveNumber``) and its place in that trace (``pointNumber``); the trace of every point,
saved beside the projection when its figure is drawn and named by a key in the page, maps
them back to the projection's rows. Items placed on the projection after it was fitted
(a live data set's arrivals) are drawn after its own points, in a trace of their own; their
ids are saved with the traces, so a drawn point is row ``r`` of the projection's items
followed by the placed ones.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from errors import DomainError

KEY = re.compile(r"^[0-9a-f]{16}$")


def _path(folder: Path, key: str) -> Path:
    return Path(folder) / "plots" / f"{key}.npz"


def save_traces(folder: Path, traces: np.ndarray, placed_ids: np.ndarray = ()) -> str:
    """Store the trace of every drawn point (``plotted_traces``, then those of the placed
    points) and the ids of the ``placed_ids`` items under ``folder``; its key."""
    traces = np.ascontiguousarray(traces, dtype=np.int32)
    placed_ids = np.ascontiguousarray(placed_ids, dtype=np.int64)
    key = hashlib.sha1(traces.tobytes() + b"|" + placed_ids.tobytes()).hexdigest()[:16]
    path = _path(folder, key)
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        # few distinct values: compressed, 100,000 points take a few kB
        np.savez_compressed(path, traces=traces, placed_ids=placed_ids)
    return key


def load_traces(folder: Path, key: Any) -> tuple[np.ndarray, np.ndarray]:
    """(trace of every drawn point, ids of the placed items drawn after the projection's)."""
    if not isinstance(key, str) or not KEY.match(key) or not _path(folder, key).exists():
        raise DomainError("The plot is out of date: open the projection again.", "plot")
    with np.load(_path(folder, key)) as stored:
        placed = stored["placed_ids"] if "placed_ids" in stored else np.empty(0, np.int64)
        return stored["traces"], placed


def _place(point: Any) -> Optional[tuple[int, int]]:
    """(trace, place in it) of an event point; None for anything else."""
    if not isinstance(point, dict):
        return None
    trace, place = point.get("curveNumber"), point.get("pointNumber")
    if type(trace) is not int or type(place) is not int:  # noqa: E721 (bool is an int too)
        return None
    return trace, place


def event_rows(traces: np.ndarray, event: Optional[dict]) -> np.ndarray:
    """Rows (sorted, without duplicates) of an event's points among the drawn ones (the
    projection's items, then the placed ones); points that name no drawn point are left
    out."""
    points = (event or {}).get("points") if isinstance(event, dict) else None
    places = [place for place in map(_place, points or []) if place is not None]
    if not places:
        return np.empty(0, dtype=np.int64)
    trace, place = np.array(places, dtype=np.int64).T
    drawn = traces >= 0
    counts = np.bincount(traces[drawn], minlength=1)
    known = (trace >= 0) & (trace < len(counts)) & (place >= 0)
    known[known] &= place[known] < counts[trace[known]]
    # rows in drawing order: trace by trace, each in the projection's order
    order = np.flatnonzero(drawn)[np.argsort(traces[drawn], kind="stable")]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.unique(order[starts[trace[known]] + place[known]])
