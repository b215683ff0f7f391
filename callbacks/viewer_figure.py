"""The viewer's figure: the rendered image on axes in raw pixel coordinates.

The picture is the thumbnail route's render (cached, colour-mapped on the server, never
image bytes in a callback), stretched over the image's full extent: pixel (column c,
row r) covers c - 0.5 … c + 0.5 on x and r - 0.5 … r + 0.5 on y, whatever the render's
own size. A transparent one-cell heatmap over the same extent gives the axes their range;
viewer_readout.js turns the pointer's place on them into a pixel and reads its raw value,
knowing the item and its size from ``layout.meta``.
"""
from __future__ import annotations

import plotly.graph_objects as go

from api.thumbnails import SIZES


def render_size(height: int, width: int) -> int:
    """The smallest thumbnail size that loses no pixel (up to 1024 a side, the largest)."""
    return next((size for size in SIZES if size >= max(height, width)), SIZES[-1])


def viewer_figure(item_id: int, image_url: str, height: int, width: int) -> go.Figure:
    extent = go.Heatmap(z=[[0]], x=[-0.5, width - 0.5], y=[-0.5, height - 0.5], opacity=0,
                        showscale=False, hoverinfo="skip")
    figure = go.Figure(extent)
    figure.add_layout_image(source=image_url, xref="x", yref="y", x=-0.5, y=-0.5,
                            sizex=width, sizey=height, sizing="stretch", xanchor="left",
                            yanchor="top", layer="above")
    axis = {"showgrid": False, "zeroline": False, "constrain": "domain", "ticks": "outside"}
    figure.update_layout(
        meta={"item": item_id, "width": width, "height": height},
        uirevision=item_id,  # zoom and pan stay while the item's label changes
        dragmode="pan", hovermode="closest", margin={"l": 44, "r": 6, "t": 6, "b": 28},
        plot_bgcolor="#111", paper_bgcolor="white",
        xaxis=axis, yaxis={**axis, "autorange": "reversed", "scaleanchor": "x",
                           "scaleratio": 1})
    return figure
