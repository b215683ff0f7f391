"""What part of a 2-D projection a plot shows, and what it draws there: the points
themselves when few are in view, else a density grid of them; and which points a lasso or
box drawn on the plot holds, tested on the stored coordinates (the browser never holds a
million points, so it cannot say which are inside).

numpy only, bounded in time at a million points: the view is one mask, the grid one
``bincount``, the lasso an even-odd ray-casting test that sorts the candidates by y once
and, per edge, tests only the points whose y its span holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from errors import DomainError

POINTS_LIMIT = 50_000  # scattergl stays fluid, and a lasso's event data small, up to here
DENSITY_CELLS = 400  # grid cells along the longer side of the view
MARGIN = 0.1  # drawn beyond each side of the view, so that a small pan shows no blank edge
# A lasso's edges tested against a point, on average: a hand-drawn outline crosses a row a
# few times; a zig-zag of thousands of edges across all the points (a crafted request)
# would hold a server thread for minutes (3 s for 2,000 edges over a million points).
MAX_EDGES_PER_POINT = 64
# A view reaching past this, or narrower than the span, shows nothing of float32 points that
# a sane one would not, and its density grid would overflow (inf, or a cell of size 0).
LARGEST_COORDINATE = 1e30
SMALLEST_SPAN = 1e-30


@dataclass(frozen=True)
class View:
    x0: float
    x1: float
    y0: float
    y1: float

    @classmethod
    def around(cls, points: np.ndarray) -> "View":
        """The extent of ``points`` (a unit square around one point or none)."""
        if len(points) == 0:
            return cls(-1.0, 1.0, -1.0, 1.0)
        x, y = points[:, 0], points[:, 1]  # a column at a time: faster than axis=0
        low, high = np.array([x.min(), y.min()]), np.array([x.max(), y.max()])
        pad = np.maximum((high - low) * 0.02, 1e-6)
        return cls(float(low[0] - pad[0]), float(high[0] + pad[0]),
                   float(low[1] - pad[1]), float(high[1] + pad[1]))

    def widened(self, fraction: float = MARGIN) -> "View":
        dx, dy = (self.x1 - self.x0) * fraction, (self.y1 - self.y0) * fraction
        return View(self.x0 - dx, self.x1 + dx, self.y0 - dy, self.y1 + dy)

    def holds(self, points: np.ndarray) -> np.ndarray:
        """bool per point: inside the view."""
        x, y = points[:, 0], points[:, 1]
        return (x >= self.x0) & (x <= self.x1) & (y >= self.y0) & (y <= self.y1)

    def as_list(self) -> list[float]:
        return [self.x0, self.x1, self.y0, self.y1]


def view_from_list(value: Any) -> Optional[View]:
    """A View from ``as_list``'s JSON form; None for anything else."""
    if isinstance(value, list) and len(value) == 4:
        x, y = _span(*value[:2]), _span(*value[2:])
        if x is not None and y is not None:
            return View(*x, *y)
    return None


def _coordinate(value: Any) -> Optional[float]:
    """A number from the browser as a coordinate a view may have; None for anything else
    (text, NaN, infinities, numbers too large for a view)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and abs(value) <= LARGEST_COORDINATE:
        return float(value)
    return None


def _span(low: Any, high: Any) -> Optional[tuple[float, float]]:
    """(low, high) as a view's range along an axis; None unless both are coordinates and
    ``high`` lies at least SMALLEST_SPAN above ``low``."""
    low, high = _coordinate(low), _coordinate(high)
    if low is None or high is None or not high - low >= SMALLEST_SPAN:
        return None
    return low, high


def _axis_range(relayout: dict, axis: str) -> Optional[tuple[float, float]]:
    pair = relayout.get(f"{axis}.range")
    if pair is None:
        pair = (relayout.get(f"{axis}.range[0]"), relayout.get(f"{axis}.range[1]"))
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        return None
    ends = [_coordinate(value) for value in pair]
    return None if None in ends else _span(min(ends), max(ends))


def view_after(relayout: Any, before: Optional[View]) -> tuple[bool, Optional[View]]:
    """(whether a plotly ``relayoutData`` moved the axes, the view after it: None for the
    whole projection, after autorange). An axis the event leaves out keeps ``before``'s
    range. Other relayouts (a drag mode chosen, a selection drawn, the plot resized) move
nothing."""
    if not isinstance(relayout, dict):
        return False, before
    if relayout.get("xaxis.autorange") or relayout.get("yaxis.autorange"):
        return True, None
    x, y = _axis_range(relayout, "xaxis"), _axis_range(relayout, "yaxis")
    if x is None and y is None:
        return False, before
    if before is None and (x is None or y is None):
        return False, before  # half a view of the whole: wait for the other axis
    x = x or (before.x0, before.x1)
    y = y or (before.y0, before.y1)
    return True, View(x[0], x[1], y[0], y[1])


# --- what is drawn ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Density:
    counts: np.ndarray  # int64 (rows = y cells, columns = x cells)
    x0: float  # left edge of the first column
    dx: float
    y0: float  # bottom edge of the first row
    dy: float
    in_view: int  # points inside the view


def density(points: np.ndarray, view: View, cells: int = DENSITY_CELLS) -> Density:
    """Counts of the points on a grid over ``view`` widened by MARGIN, square cells with
    ``cells`` along the longer side."""
    area = view.widened()
    width, height = area.x1 - area.x0, area.y1 - area.y0
    size = max(width, height) / cells
    columns, rows = max(1, int(np.ceil(width / size))), max(1, int(np.ceil(height / size)))
    dtype = points.dtype if points.dtype in (np.float32, np.float64) else np.float64
    column = (points[:, 0] - dtype.type(area.x0)) * dtype.type(1 / size)
    row = (points[:, 1] - dtype.type(area.y0)) * dtype.type(1 / size)
    kept = (column >= 0) & (column < columns) & (row >= 0) & (row < rows)
    cells = row[kept].astype(np.int64) * columns + column[kept].astype(np.int64)
    counts = np.bincount(cells, minlength=rows * columns)
    return Density(counts.reshape(rows, columns), area.x0, size, area.y0, size,
                   int(view.holds(points).sum()))


def shown_rows(points: np.ndarray, view: Optional[View],
               limit: int = POINTS_LIMIT) -> Optional[np.ndarray]:
    """The rows to draw as points, those in ``view`` widened by MARGIN (all rows for the
    whole projection); None when more than ``limit`` are in the view itself: draw the
    density instead."""
    if view is None:
        return np.arange(len(points)) if len(points) <= limit else None
    if view.holds(points).sum() > limit:
        return None
    return np.flatnonzero(view.widened().holds(points))


# --- what a drawn region holds ----------------------------------------------------------------

def inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """bool per point (x, y): inside the closed ``polygon`` (its vertices, the last joined
    to the first) by the even-odd rule, as plotly's lasso tests points."""
    polygon = np.asarray(polygon, dtype=np.float64)
    inside = np.zeros(len(points), dtype=bool)
    if len(polygon) < 3 or len(points) == 0:
        return inside
    (left, bottom), (right, top) = polygon.min(axis=0), polygon.max(axis=0)
    x, y = points[:, 0], points[:, 1]
    candidates = np.flatnonzero((x >= left) & (x <= right) & (y >= bottom) & (y <= top))
    order = candidates[np.argsort(y[candidates])]
    xs, ys = np.asarray(x[order], np.float64), np.asarray(y[order], np.float64)
    ends = np.roll(polygon, -1, axis=0)
    # per edge, the points with min(y0, y1) <= y < max(y0, y1): those a ray to the left can
    # cross (a horizontal edge crosses none)
    starts = np.searchsorted(ys, np.minimum(polygon[:, 1], ends[:, 1]), side="left")
    stops = np.searchsorted(ys, np.maximum(polygon[:, 1], ends[:, 1]), side="left")
    if (stops - starts).sum() > MAX_EDGES_PER_POINT * len(order) + 1_000_000:
        raise DomainError("the lasso's outline crosses itself too often to test; draw a "
                          "simpler one", "selection")
    crossings = np.zeros(len(order), dtype=bool)
    for (x0, y0), (x1, y1), start, stop in zip(polygon, ends, starts, stops):
        if start == stop:
            continue
        at = x0 + (ys[start:stop] - y0) * ((x1 - x0) / (y1 - y0))
        crossings[start:stop] ^= xs[start:stop] < at
    inside[order] = crossings
    return inside


def _numbers(values: Any, what: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.empty(0)
    if array.ndim != 1 or not np.isfinite(array).all():
        raise DomainError(f"the selection's {what} are not numbers; select again", "selection")
    return array


def drawn_region(selected: Any) -> Optional[tuple[str, np.ndarray]]:
    """("lasso", polygon n×2) or ("box", [[x0, y0], [x1, y1]]) of a plotly selectedData;
    None when it names no region (a click, a cleared selection)."""
    if not isinstance(selected, dict):
        return None
    lasso, box = selected.get("lassoPoints"), selected.get("range")
    if isinstance(lasso, dict) and "x" in lasso and "y" in lasso:
        x, y = _numbers(lasso["x"], "lasso points"), _numbers(lasso["y"], "lasso points")
        if len(x) != len(y):
            raise DomainError("the lasso's x and y differ in length; select again", "selection")
        return "lasso", np.c_[x, y]
    if isinstance(box, dict) and "x" in box and "y" in box:
        x, y = _numbers(box["x"], "box corners"), _numbers(box["y"], "box corners")
        if len(x) != 2 or len(y) != 2:
            raise DomainError("a box needs two x and two y values; select again", "selection")
        return "box", np.array([[x.min(), y.min()], [x.max(), y.max()]])
    return None


def inside_region(points: np.ndarray, region: tuple[str, np.ndarray]) -> np.ndarray:
    """bool per point: inside the ``drawn_region``."""
    shape, corners = region
    if shape == "lasso":
        return inside_polygon(points, corners)
    (x0, y0), (x1, y1) = corners
    return View(x0, x1, y0, y1).holds(points)
