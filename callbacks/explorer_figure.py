"""The explorer's scatter plot: WebGL traces whose arrays travel as typed arrays.

Plotly sends numpy arrays as base64 typed arrays, so 100,000 points cost a few bytes each
(float32 coordinates) instead of decimal text. Groups (labels, clusters) are one trace each,
so the legend names and toggles them; continuous values (confidence, reconstruction error)
are one trace with a colour bar. Items placed on the fitted projection after it was
computed (arrivals on a live data set) are one more trace, "new (placed)", drawn last. Too
many points in view for WebGL to stay fluid are drawn as their density instead
(``density_figure``, one byte a cell). The figure carries no item ids: events name a point
by its trace and its place in it, which ``plotted_traces`` and ``drawn_traces`` fix (see
callbacks/explorer_points.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from ml.projection_view import Density

UNLABELED_COLOR = "#b8b8b8"
NOISE_COLOR = "#6c757d"
PLACED_NAME = "new (placed)"
PLACED_MARKER = dict(color="#000000", symbol="diamond", opacity=0.9,
                     line=dict(width=1, color="#ffffff"))
# Okabe-Ito, then plotly's defaults: distinguishable, also for colour-blind readers.
CLUSTER_COLORS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00",
                  "#f0e442", "#000000", "#636efa", "#ef553b", "#00cc96", "#ab63fa",
                  "#ffa15a", "#19d3f3", "#ff6692", "#b6e880")
# level 0 (no point) transparent, then light to dark blue by the log of the count
DENSITY_COLOURS = [[0.0, "rgba(255,255,255,0)"], [0.5 / 255, "rgba(255,255,255,0)"],
                   [0.5 / 255, "#c6dbef"], [0.5, "#4292c6"], [1.0, "#08306b"]]


@dataclass(frozen=True)
class Group:
    code: int  # the label id or cluster number of the points
    name: str
    color: str


def cluster_groups(codes: np.ndarray) -> list[Group]:
    found = [int(c) for c in np.unique(codes)]
    return [Group(c, "noise" if c < 0 else f"cluster {c}",
                  NOISE_COLOR if c < 0 else CLUSTER_COLORS[c % len(CLUSTER_COLORS)])
            for c in sorted(found, key=lambda c: (c < 0, c))]


def label_groups(codes: np.ndarray, labels: dict[int, tuple[str, str]]) -> list[Group]:
    """``labels``: label id -> (name, colour), in the order of the label list."""
    present = set(np.unique(codes).tolist())
    groups = [Group(label_id, name, color) for label_id, (name, color) in labels.items()
              if label_id in present]
    return groups + ([Group(-1, "unlabeled", UNLABELED_COLOR)] if -1 in present else [])


def plotted_traces(n_points: int, codes: Optional[np.ndarray] = None,
                   groups: Optional[list[Group]] = None) -> np.ndarray:
    """The trace each point is drawn in, in the order of ``groups`` (-1: not drawn); every
    point in trace 0 without groups. Within a trace, points keep their order."""
    if groups is None:
        return np.zeros(n_points, dtype=np.int32)
    traces = np.full(n_points, -1, dtype=np.int32)
    for number, group in enumerate(groups):
        traces[codes == group.code] = number
    return traces


def drawn_traces(traces: np.ndarray, groups: Optional[list[Group]],
                 placed: int) -> np.ndarray:
    """The trace of every drawn point: the projection's (``plotted_traces``), then the
    ``placed`` points' trace, which follows the groups' (or the one coloured by value)."""
    placed_trace = len(groups) if groups is not None else 1
    return np.concatenate([np.asarray(traces, dtype=np.int32),
                           np.full(placed, placed_trace, dtype=np.int32)])


def _trace(points: np.ndarray, item_ids: np.ndarray, name: str, marker: dict,
           highlight: Sequence[int], showlegend: bool = True):
    coords = {axis: np.ascontiguousarray(points[:, i], dtype=np.float32)
              for i, axis in enumerate("xyz"[:points.shape[1]])}
    # hoverinfo "none" still sends hover events, without plotly's own label
    common = dict(mode="markers", name=name, marker=marker, hoverinfo="none",
                  showlegend=showlegend)
    if len(highlight):
        common["selectedpoints"] = np.flatnonzero(np.isin(item_ids, highlight)).tolist()
    if points.shape[1] == 3:
        return go.Scatter3d(**coords, **common)
    return go.Scattergl(**coords, **common)


def marker_size(n_points: int) -> int:
    return 6 if n_points <= 2_000 else 4 if n_points <= 20_000 else 3


def scatter_figure(points: np.ndarray, item_ids: np.ndarray,
                   codes: Optional[np.ndarray] = None, groups: Optional[list[Group]] = None,
                   values: Optional[np.ndarray] = None, value_name: str = "",
                   revision: object = None, highlight: Sequence[int] = (),
                   placed: Optional[tuple[np.ndarray, np.ndarray]] = None) -> go.Figure:
    """Points coloured by group (``codes`` with their ``groups``) or by ``values``, in the
    traces ``plotted_traces`` gives, then the ``placed`` (item ids, points) in a trace of
    their own (``drawn_traces``); the ``highlight`` items show as selected. Zoom and drag
    mode stay while ``revision`` does."""
    points = np.asarray(points)
    size = marker_size(len(points))
    if values is not None:
        marker = dict(size=size, color=np.asarray(values, dtype=np.float32),
                      colorscale="Viridis", showscale=True, opacity=0.85,
                      colorbar=dict(title=dict(text=value_name), thickness=12))
        traces = [_trace(points, item_ids, value_name, marker, highlight, showlegend=False)]
    else:
        in_trace = plotted_traces(len(points), codes, groups)
        traces = []
        for number, group in enumerate(groups or []):
            mask = in_trace == number
            traces.append(_trace(points[mask], item_ids[mask], f"{group.name} ({mask.sum():,})",
                                 dict(size=size, color=group.color, opacity=0.85), highlight))
    if placed is not None and len(placed[0]):
        placed_ids, placed_points = placed
        traces.append(_trace(np.asarray(placed_points), placed_ids,
                             f"{PLACED_NAME} ({len(placed_ids):,})",
                             dict(size=size + 2, **PLACED_MARKER), highlight))
    return _laid_out(go.Figure(traces), revision, points.shape[1])


def _laid_out(figure: go.Figure, revision: object, dimensions: int) -> go.Figure:
    figure.update_layout(
        margin=dict(l=10, r=10, t=10, b=10), dragmode="lasso", uirevision=revision,
        plot_bgcolor="white",
        legend=dict(itemsizing="constant", orientation="h", yanchor="top", y=-0.01, x=0),
        clickmode="event+select", hovermode="closest")
    if dimensions == 2:
        figure.update_xaxes(showgrid=False, zeroline=False, showticklabels=False)
        figure.update_yaxes(showgrid=False, zeroline=False, showticklabels=False,
                            scaleanchor="x")
    return figure


def density_levels(counts: np.ndarray) -> np.ndarray:
    """uint8 per cell: 0 where empty, else 1 to 255 by the log of the count (one byte a
    cell travels to the browser)."""
    scale = np.log1p(max(int(counts.max(initial=0)), 1))
    return np.ceil(255 * np.log1p(counts) / scale).astype(np.uint8)  # 1 point: 1 or more


def density_figure(density: Density, sample: np.ndarray, limit: int,
                   revision: object = None) -> go.Figure:
    """The ``density`` as a heat map (empty cells transparent), with the ``sample`` points
    (n × 2) over it as one invisible trace: hovering them shows their images, and plotly
    offers the lasso and the box only over a plot with selectable points."""
    levels = density_levels(density.counts)
    heat = go.Heatmap(z=levels, x0=density.x0 + density.dx / 2, dx=density.dx,
                      y0=density.y0 + density.dy / 2, dy=density.dy, zmin=0, zmax=255,
                      colorscale=DENSITY_COLOURS, showscale=False, hoverinfo="skip",
                      name="density")
    hover = go.Scattergl(x=np.ascontiguousarray(sample[:, 0], dtype=np.float32),
                         y=np.ascontiguousarray(sample[:, 1], dtype=np.float32),
                         mode="markers", marker=dict(size=8, opacity=0), hoverinfo="none",
                         name="sample", showlegend=False)
    figure = _laid_out(go.Figure([heat, hover]), revision, 2)
    figure.update_layout(annotations=[dict(
        text=f"density of {density.in_view:,} points: zoom in to fewer than {limit:,} "
             "to see them", xref="paper", yref="paper", x=0, y=1, xanchor="left",
        yanchor="bottom", showarrow=False, font=dict(size=11, color="#6c757d"))],
        margin=dict(t=24))
    return figure
