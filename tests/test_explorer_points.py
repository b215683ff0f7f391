"""Mapping the explorer's hover, click, lasso and box events back to item ids: by trace
and place in it, through the traces saved beside the projection."""
import numpy as np
import pytest

from callbacks.explorer_figure import drawn_traces, label_groups, plotted_traces, scatter_figure
from callbacks.explorer_points import event_rows, load_traces, save_traces
from errors import DomainError

ITEMS = np.array([10, 11, 12, 13, 14, 15])
CODES = np.array([7, -1, 7, 3, -1, 9])  # label 9 has no group: not drawn
GROUPS = label_groups(CODES, {3: ("peaks", "#111111"), 7: ("rings", "#222222")})


def event(*places):
    return {"points": [{"curveNumber": trace, "pointNumber": place, "x": 0.5}
                       for trace, place in places]}


def test_each_event_point_is_the_item_the_figure_drew_there():
    points = np.arange(12, dtype=np.float32).reshape(6, 2)
    figure = scatter_figure(points, ITEMS, CODES, GROUPS)
    traces = plotted_traces(len(ITEMS), CODES, GROUPS)
    # every drawn point, by trace and place, names the row whose coordinates it has
    for number, trace in enumerate(figure.data):
        for place, x in enumerate(trace.x):
            (row,) = event_rows(traces, event((number, place)))
            assert points[row, 0] == x
    assert ITEMS[event_rows(traces, event((1, 1), (2, 0), (1, 1), (0, 0)))].tolist() == \
        [11, 12, 13]


@pytest.mark.parametrize("points", [
    [{"curveNumber": 3, "pointNumber": 0}],  # no such trace
    [{"curveNumber": 0, "pointNumber": 1}],  # trace 0 holds one point
    [{"curveNumber": -1, "pointNumber": 0}],
    [{"curveNumber": 0, "pointNumber": -1}],
    [{"curveNumber": True, "pointNumber": 0}],
    [{"curveNumber": "0", "pointNumber": 0}],
    [{"customdata": 10}],
    ["a point", None, 5],
])
def test_points_that_name_no_drawn_point_are_left_out(points):
    traces = plotted_traces(len(ITEMS), CODES, GROUPS)
    assert event_rows(traces, {"points": points}).tolist() == []


def test_events_without_points_select_nothing():
    traces = plotted_traces(3)
    for nothing in (None, {}, {"points": None}, {"points": "x"}, [1, 2], "points"):
        assert event_rows(traces, nothing).tolist() == []


def test_traces_are_saved_once_by_their_content_and_a_bad_key_is_refused(tmp_path):
    traces = plotted_traces(len(ITEMS), CODES, GROUPS)
    key = save_traces(tmp_path, traces)
    assert save_traces(tmp_path, traces.copy()) == key
    assert len(list((tmp_path / "plots").iterdir())) == 1
    assert load_traces(tmp_path, key)[0].tolist() == traces.tolist()
    assert save_traces(tmp_path, plotted_traces(len(ITEMS))) != key
    for bad in ("../../etc/passwd", "0" * 16, None, 42, key.upper()):
        with pytest.raises(DomainError, match="open the projection again"):
            load_traces(tmp_path, bad)


def test_points_placed_after_the_fit_are_a_last_trace_that_names_their_items(tmp_path):
    points = np.arange(12, dtype=np.float32).reshape(6, 2)
    placed_ids, placed_points = np.array([20, 21]), np.array([[50, 51], [60, 61]], np.float32)
    figure = scatter_figure(points, ITEMS, CODES, GROUPS, placed=(placed_ids, placed_points))
    assert [trace.name for trace in figure.data] == ["peaks (1)", "rings (2)", "unlabeled (2)",
                                                     "new (placed) (2)"]
    traces = drawn_traces(plotted_traces(len(ITEMS), CODES, GROUPS), GROUPS, len(placed_ids))
    key = save_traces(tmp_path, traces, placed_ids)
    assert save_traces(tmp_path, traces) != key  # the placed items are part of the plot
    stored, stored_placed = load_traces(tmp_path, key)
    drawn = np.concatenate([ITEMS, stored_placed])
    assert drawn[event_rows(stored, event((3, 1), (0, 0), (3, 0)))].tolist() == [13, 20, 21]
    for place, x in enumerate(figure.data[3].x):
        (row,) = event_rows(stored, event((3, place)))
        assert np.concatenate([points, placed_points])[row, 0] == x
