"""The explorer's plot of a view switches between points and density by the count in view;
either way every drawn point maps back to its item, and over a density a lasso selects the
items inside it, placed arrivals included."""
from __future__ import annotations

import numpy as np
from plotly.io.json import to_json_plotly

from callbacks.explorer_figure import density_levels, label_groups
from callbacks.explorer_points import event_rows
from callbacks.explorer_view import (Drawable, density_plot, points_limit, points_plot,
                                     region_items, rows_to_draw)
from ml.projection_view import View

N = 3_000


def drawable(placed: int = 0) -> Drawable:
    rng = np.random.default_rng(4)
    points = rng.normal(size=(N, 2)).astype(np.float32)
    placed_points = rng.normal(size=(placed, 2)).astype(np.float32)
    return Drawable.of(points, np.arange(N, dtype=np.int64) + 100,
                       np.arange(placed, dtype=np.int64) + 10_000, placed_points)


def drawn_ids(plot, items: Drawable, trace: int, places) -> list[int]:
    """The items of the given places of a trace, as the page maps an event's points."""
    event = {"points": [{"curveNumber": trace, "pointNumber": p} for p in places]}
    return items.item_ids[event_rows(plot.traces, event)].tolist()


def test_the_plot_draws_points_up_to_the_limit_in_view_and_the_density_beyond():
    items = drawable(placed=20)
    codes = np.where(np.arange(N) % 3 == 0, 7, -1)
    groups = label_groups(codes, {7: ("rings", "#222222")})

    rows = rows_to_draw(items, None, limit=N + 20)
    plot = points_plot(items, rows, codes, groups)
    assert plot.mode == "all"
    assert [t.type for t in plot.figure.data] == ["scattergl"] * 3
    assert [t.name for t in plot.figure.data] == [f"rings ({N // 3:,})",
                                                  f"unlabeled ({2 * N // 3:,})",
                                                  "new (placed) (20)"]
    assert drawn_ids(plot, items, 2, [0, 19]) == [10_000, 10_019]

    zoom = View(0.5, 1.5, 0.5, 1.5)
    rows = rows_to_draw(items, zoom, limit=zoom.holds(items.points).sum())
    own = rows[rows < N]
    plot = points_plot(items, rows, codes[own], label_groups(codes[own], {7: ("rings", "#222222")}))
    assert plot.mode == "points" and (plot.traces >= 0).sum() == len(rows) < N / 5
    first_ring = own[codes[own] == 7][0]
    assert drawn_ids(plot, items, 0, [0]) == [first_ring + 100]
    assert plot.figure.data[0].x[0] == items.points[first_ring, 0]

    assert rows_to_draw(items, None, limit=N) is None
    assert rows_to_draw(items, zoom, limit=zoom.holds(items.points).sum() - 1) is None
    plot = density_plot(items, None, limit=N)
    assert plot.mode == "density"
    heat, sample = plot.figure.data
    assert heat.type == "heatmap" and sample.type == "scattergl"
    assert heat.z.dtype == np.uint8 and heat.z.max() == 255 and heat.z.min() == 0
    # the invisible sample names its items as any drawn points do
    assert sample.marker.opacity == 0 and len(sample.x) == N // 4
    first = drawn_ids(plot, items, 1, [0])[0]
    row = int(np.flatnonzero(items.item_ids == first)[0])
    assert sample.x[0] == items.points[row, 0]
    assert drawn_ids(plot, items, 0, [0]) == []
    text = to_json_plotly(plot.figure)
    assert '"dtype":"u1"' in text and len(text) < 300_000


def test_density_levels_are_zero_only_where_no_point_is():
    levels = density_levels(np.array([[0, 1, 2], [10, 1000, 0]]))
    assert levels.tolist()[0][0] == 0 and levels[1, 2] == 0 and levels[1, 1] == 255
    assert 1 <= levels[0, 1] < levels[0, 2] < levels[1, 0] < 255


def test_a_lasso_over_a_density_selects_the_items_inside_it_placed_ones_too():
    items = drawable(placed=50)
    square = [-0.5, 0.5, 0.5, -0.5]
    lasso = {"lassoPoints": {"x": square, "y": [-0.5, -0.5, 0.5, 0.5]},
             "points": [{"curveNumber": 1, "pointNumber": 0}]}
    inside = (np.abs(items.points) < 0.5).all(axis=1)
    assert sorted(region_items(items, lasso).tolist()) == sorted(items.item_ids[inside].tolist())
    assert (region_items(items, lasso) >= 10_000).any()
    box = {"range": {"x": [-0.5, 0.5], "y": [-0.5, 0.5]}}
    assert sorted(region_items(items, box).tolist()) == sorted(items.item_ids[inside].tolist())
    assert region_items(items, {"points": lasso["points"]}) is None


def test_a_3d_projection_past_the_limit_shows_a_seeded_sample():
    points = np.random.default_rng(0).normal(size=(500, 3)).astype(np.float32)
    items = Drawable.of(points, np.arange(500), np.empty(0, np.int64), np.empty((0, 3)))
    rows = rows_to_draw(items, None, limit=100)
    assert len(rows) == 100 and np.array_equal(rows, rows_to_draw(items, None, limit=100))
    plot = points_plot(items, rows, None, None, values=np.ones(100), value_name="error")
    assert plot.mode == "points" and plot.figure.data[0].type == "scatter3d"


def test_the_page_limit_falls_back_to_the_default_for_anything_but_a_count():
    assert points_limit(1200) == 1200
    assert points_limit(None) == points_limit("9") == points_limit(0) == points_limit(True) \
        == points_limit(float("inf")) == points_limit(float("nan")) == 50_000
