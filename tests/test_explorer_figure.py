"""The explorer's scatter figure: WebGL traces, typed arrays, groups and highlights."""
import numpy as np
from plotly.io.json import to_json_plotly

from callbacks.explorer_figure import (UNLABELED_COLOR, cluster_groups, label_groups,
                                       plotted_traces, scatter_figure)

POINTS = np.array([[0, 0], [1, 1], [2, 2], [3, 3], [4, 4]], dtype=np.float32)
ITEMS = np.array([10, 11, 12, 13, 14])


def test_groups_are_one_webgl_trace_each_in_the_order_plotted_traces_gives():
    codes = np.array([7, -1, 7, 3, -1])
    groups = label_groups(codes, {3: ("peaks", "#111111"), 7: ("rings", "#222222"),
                                  9: ("absent", "#333333")})
    assert [(g.name, g.color) for g in groups] == [("peaks", "#111111"), ("rings", "#222222"),
                                                   ("unlabeled", UNLABELED_COLOR)]
    traces = plotted_traces(len(ITEMS), codes, groups)
    assert traces.tolist() == [1, 2, 1, 0, 2]
    figure = scatter_figure(POINTS, ITEMS, codes, groups, highlight=[12, 14])
    assert [trace.type for trace in figure.data] == ["scattergl"] * 3
    assert [trace.name for trace in figure.data] == ["peaks (1)", "rings (2)", "unlabeled (2)"]
    assert [list(trace.x) for trace in figure.data] == [[3], [0, 2], [1, 4]]
    assert [list(trace.selectedpoints) for trace in figure.data] == [[], [1], [1]]
    # coordinates travel as base64 typed arrays, not as decimal text; no ids travel at all
    # (Dash's events lose typed-array customdata: callbacks/explorer_points.py)
    text = to_json_plotly(figure)
    assert '"dtype":"f4"' in text and "customdata" not in text


def test_points_of_codes_without_a_group_are_not_drawn_and_values_use_one_trace():
    codes = np.array([5, 7, 5])
    groups = label_groups(codes, {5: ("rings", "#222222")})
    assert plotted_traces(3, codes, groups).tolist() == [0, -1, 0]
    assert plotted_traces(3).tolist() == [0, 0, 0]


def test_clusters_order_noise_last_and_3d_uses_scatter3d_with_a_colour_bar_for_values():
    assert [g.name for g in cluster_groups(np.array([1, -1, 0, 1]))] == \
        ["cluster 0", "cluster 1", "noise"]
    points = np.c_[POINTS, POINTS[:, :1]]
    figure = scatter_figure(points, ITEMS, values=np.linspace(0, 1, 5), value_name="error")
    (trace,) = figure.data
    assert trace.type == "scatter3d" and trace.marker.showscale
    assert np.allclose(trace.z, POINTS[:, 0])
