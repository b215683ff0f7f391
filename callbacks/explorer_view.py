"""What the explorer's plot draws of a projection in a view: every point, the points in
view (zoomed in on a large projection), or the density of the points in view (more than the
points limit), with the trace of every drawn point for the events
(callbacks/explorer_points.py); and which items a lasso or box holds when only a density
was drawn, from the stored coordinates.

A 3-D projection has no density: past the limit it shows a seeded sample of the points.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import plotly.graph_objects as go

from callbacks.explorer_figure import Group, density_figure, drawn_traces, plotted_traces
from callbacks.explorer_figure import scatter_figure
from ml.projection_view import (POINTS_LIMIT, View, density, drawn_region, inside_region,
                                shown_rows)

HOVER_SAMPLE = 2_000  # invisible points over a density, for hover and to make it selectable
MODES = ("all", "points", "density")  # every point drawn / those in view / their density


@dataclass(frozen=True)
class Drawable:
    points: np.ndarray  # (n + m, k): the projection's n points, then the m placed after it
    item_ids: np.ndarray  # int64, one per point
    fitted: int  # n

    @classmethod
    def of(cls, points: np.ndarray, item_ids: np.ndarray, placed_ids: np.ndarray,
           placed_points: np.ndarray) -> "Drawable":
        both = np.concatenate([np.asarray(points, dtype=np.float32),
                               np.asarray(placed_points, dtype=np.float32).reshape(
                                   -1, points.shape[1])])
        return cls(both, np.concatenate([item_ids, np.asarray(placed_ids, np.int64)]),
                   len(points))


@dataclass(frozen=True)
class Plot:
    figure: go.Figure
    traces: np.ndarray  # int32 trace of every drawable point, -1 where not drawn
    mode: str  # one of MODES


def points_limit(value: Any) -> int:
    """The page's points limit, or the default for anything that is not a whole number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 1 <= value < math.inf:
        return int(value)
    return POINTS_LIMIT


def rows_to_draw(drawable: Drawable, view: Optional[View], limit: int) -> Optional[np.ndarray]:
    """Sorted rows to draw as points; None: draw the density of the view instead."""
    if drawable.points.shape[1] == 2:
        return shown_rows(drawable.points, view, limit)
    if len(drawable.points) <= limit:
        return np.arange(len(drawable.points))
    return np.sort(np.random.default_rng(0).choice(len(drawable.points), limit, replace=False))


def _framed(figure: go.Figure, view: Optional[View]) -> go.Figure:
    """The axes set to ``view``: a new figure whose points or cells differ would be
    autoranged to them otherwise, and a double click (back to the figure's own ranges,
    then to all) reaches the whole projection from the second time on."""
    if view is not None:
        figure.update_xaxes(range=[view.x0, view.x1], autorange=False)
        figure.update_yaxes(range=[view.y0, view.y1], autorange=False)
    return figure


def points_plot(drawable: Drawable, rows: np.ndarray, codes: Optional[np.ndarray],
                groups: Optional[list[Group]], values: Optional[np.ndarray] = None,
                value_name: str = "", revision: object = None,
                highlight=(), view: Optional[View] = None) -> Plot:
    """The points of ``rows`` (in ``view``, if any); ``codes`` and ``values`` are those of
    its rows among the projection's own (rows below ``drawable.fitted``)."""
    own, placed = rows[rows < drawable.fitted], rows[rows >= drawable.fitted]
    figure = scatter_figure(drawable.points[own], drawable.item_ids[own], codes, groups,
                            values, value_name, revision, highlight,
                            placed=(drawable.item_ids[placed], drawable.points[placed]))
    traces = np.full(len(drawable.points), -1, dtype=np.int32)
    traces[rows] = drawn_traces(plotted_traces(len(own), codes, groups), groups, len(placed))
    return Plot(_framed(figure, view if drawable.points.shape[1] == 2 else None), traces,
                "all" if len(rows) == len(drawable.points) else "points")


def density_plot(drawable: Drawable, view: Optional[View], limit: int,
                 revision: object = None) -> Plot:
    """The density of the points in ``view`` (all of them for None), with a seeded sample
    of those in view (HOVER_SAMPLE, at most a quarter of the ``limit``) drawn invisibly
    over it as trace 1."""
    area = view or View.around(drawable.points)
    in_view = np.flatnonzero(area.holds(drawable.points))
    size = min(HOVER_SAMPLE, max(1, limit // 4), len(in_view))
    sample = np.sort(np.random.default_rng(0).choice(in_view, size, replace=False))
    figure = density_figure(density(drawable.points, area), drawable.points[sample], limit,
                            revision)
    traces = np.full(len(drawable.points), -1, dtype=np.int32)
    traces[sample] = 1  # trace 0 is the heat map, whose cells name no point
    return Plot(_framed(figure, view), traces, "density")


def region_items(drawable: Drawable, selected: Any) -> Optional[np.ndarray]:
    """Item ids of the points inside the lasso or box of a plotly ``selectedData``; None
    when it draws no region (a click)."""
    region = drawn_region(selected)
    if region is None:
        return None
    return drawable.item_ids[inside_region(drawable.points, region)]
