"""The look the classifier page's plots share, and the styles that show or hide a plot
(a plot is hidden until it has something to show; a hint says meanwhile what to do)."""
from __future__ import annotations

import plotly.graph_objects as go

SHOWN, HIDDEN = {"height": "280px"}, {"display": "none"}


def styled(figure: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    figure.update_layout(margin=dict(l=50, r=10, t=35, b=40), title=dict(text=title, x=0.01),
                         xaxis_title=x_title, yaxis_title=y_title, plot_bgcolor="white",
                         legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    figure.update_xaxes(gridcolor="#eee")
    figure.update_yaxes(gridcolor="#eee")
    return figure
