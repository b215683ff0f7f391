"""The view of a 2-D projection: what a zoom or pan makes of it, the density grid, and which
points a lasso or box holds (against a plain test of every point against every edge)."""
from __future__ import annotations

import numpy as np
import pytest

from errors import DomainError
from ml.projection_view import (View, density, drawn_region, inside_polygon, inside_region,
                                shown_rows, view_after, view_from_list)
from tests.plot_pointer import inside_polygon as every_edge_test


def star(centre=(0.0, 0.0), vertices: int = 40) -> np.ndarray:
    """A concave polygon: a star with alternating radii 1 and 2.5 (not closed)."""
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    radii = np.where(np.arange(vertices) % 2 == 0, 2.5, 1.0)
    return np.c_[centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)]


def test_the_lasso_test_agrees_with_testing_every_point_against_every_edge():
    points = np.random.default_rng(0).uniform(-3, 3, size=(20_000, 2)).astype(np.float32)
    polygon = star()
    expected = every_edge_test(points.astype(np.float64), np.vstack([polygon, polygon[:1]]))
    assert 2_000 < expected.sum() < 15_000
    assert np.array_equal(inside_polygon(points, polygon), expected)
    # a closed outline (the first vertex repeated) and a degenerate one
    assert np.array_equal(inside_polygon(points, np.vstack([polygon, polygon[:1]])), expected)
    assert not inside_polygon(points, polygon[:2]).any()


def test_a_selected_region_is_read_from_plotly_selected_data():
    lasso = {"lassoPoints": {"x": [0, 4, 4, 0], "y": [0, 0, 4, 4]}, "points": []}
    shape, corners = drawn_region(lasso)
    assert shape == "lasso" and corners.shape == (4, 2)
    shape, corners = drawn_region({"range": {"x": [3, 1], "y": [0, 2]}})
    assert shape == "box" and corners.tolist() == [[1, 0], [3, 2]]
    assert drawn_region({"points": [{"curveNumber": 0, "pointNumber": 1}]}) is None
    assert drawn_region(None) is None
    points = np.array([[2, 1], [5, 1], [2, 3]], dtype=np.float32)
    assert inside_region(points, drawn_region(lasso)).tolist() == [True, False, True]
    assert inside_region(points, ("box", corners)).tolist() == [True, False, False]
    for bad in ({"lassoPoints": {"x": ["a"], "y": [1]}}, {"lassoPoints": {"x": [1, 2], "y": [1]}},
                {"range": {"x": [1], "y": [0, 2]}}, {"range": {"x": [1, None], "y": [0, 2]}}):
        with pytest.raises(DomainError, match="select again"):
            drawn_region(bad)


def test_zooms_pans_and_autorange_make_the_view_other_relayouts_keep_it():
    before = View(0, 10, 0, 5)
    assert view_after({"xaxis.range[0]": 2, "xaxis.range[1]": 4, "yaxis.range[0]": 1,
                       "yaxis.range[1]": 3}, None) == (True, View(2, 4, 1, 3))
    assert view_after({"xaxis.range": [6, 2]}, before) == (True, View(2, 6, 0, 5))
    assert view_after({"xaxis.autorange": True, "yaxis.autorange": True}, before) == (True, None)
    for other in ({"dragmode": "lasso"}, {"selections": []}, {"autosize": True}, None,
                  {"xaxis.range": [1, 1]}):
        assert view_after(other, before) == (False, before)
    assert view_after({"xaxis.range": [1, 2]}, None) == (False, None)
    assert view_from_list(before.as_list()) == before
    assert view_from_list([1, 0, 0, 1]) is None and view_from_list("x") is None


def test_views_the_density_grid_cannot_hold_are_no_views():
    """A crafted relayout or store (JSON allows Infinity, NaN and any integer) once made
    the density grid fail with a 500: NaN columns, or a cell of size 0."""
    before = View(0, 10, 0, 5)
    inf, nan = float("inf"), float("nan")
    for pair in ([-inf, inf], [0, nan], [-1e308, 1e308], [-10**400, 10**400], [0, 5e-324],
                 ["0", 1]):
        assert view_after({"xaxis.range": pair}, before) == (False, before)
        assert view_from_list([*pair, 0, 1]) is None
    wide = view_from_list([-1e30, 1e30, -1e-30, 0])
    points = np.random.default_rng(0).random((100, 2)).astype(np.float32)
    assert density(points, wide).in_view == 0


def test_few_points_in_view_are_drawn_as_points_more_as_their_density():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(5_000, 2)).astype(np.float32)
    assert shown_rows(points, None, limit=5_000).tolist() == list(range(5_000))
    assert shown_rows(points, None, limit=4_999) is None
    corner = View(1.5, 3.0, 1.5, 3.0)
    in_corner = corner.holds(points).sum()
    rows = shown_rows(points, corner, limit=in_corner)
    # the points in the view and its margin, nothing farther
    assert np.array_equal(rows, np.flatnonzero(corner.widened().holds(points)))
    assert shown_rows(points, corner, limit=in_corner - 1) is None

    grid = density(points, View(-2, 2, -1, 1), cells=40)
    # square cells, 40 along the longer side of the view widened by its margin (4.8 × 2.4)
    assert grid.counts.shape == (20, 40) and grid.dx == grid.dy == pytest.approx(0.12)
    assert grid.in_view == View(-2, 2, -1, 1).holds(points).sum()
    margin = View(-2.4, 2.4, -1.2, 1.2)
    assert grid.counts.sum() == margin.holds(points).sum()
    # a cell counts the points whose coordinates fall in it
    column, row = 20, 9
    cell = View(grid.x0 + column * grid.dx, grid.x0 + (column + 1) * grid.dx,
                grid.y0 + row * grid.dy, grid.y0 + (row + 1) * grid.dy)
    assert abs(grid.counts[row, column] - cell.holds(points).sum()) <= 1  # edges fall once


def test_a_lasso_whose_edges_would_each_test_every_point_is_refused():
    points = np.random.default_rng(1).random((40_000, 2)).astype(np.float32)
    corners = 200  # a zig-zag whose every edge spans every point's y
    zigzag = np.c_[np.linspace(0, 1, corners), np.arange(corners) % 2]
    with pytest.raises(DomainError, match="simpler"):
        inside_polygon(points, zigzag)
    # a round outline of as many corners crosses each row twice: tested as ever
    angles = np.linspace(0, 2 * np.pi, corners, endpoint=False)
    ring = np.c_[0.5 + 0.4 * np.cos(angles), 0.5 + 0.4 * np.sin(angles)]
    expected = every_edge_test(points.astype(np.float64), np.vstack([ring, ring[:1]]))
    assert expected.any()
    np.testing.assert_array_equal(inside_polygon(points, ring), expected)
