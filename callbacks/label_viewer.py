"""The full-resolution viewer and the keyboard help of the labeling page."""
from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, html
from dash.exceptions import PreventUpdate

from callbacks.common import read_session, thumbnail_url
from callbacks.ids import Label as ids
from data.sources import SourceError, UnreadableImage
from db.lookups import item_with_label
from services import current_services

VIEWER_SIZE = 1024


def _facts(item, dataset, label) -> list[tuple[str, str]]:
    facts = [("file", item.uri), ("data set", dataset.name)]
    try:
        raw = current_services().source(dataset).read(item.path, item.frame)
    except (UnreadableImage, SourceError) as error:
        return facts + [("unreadable", str(error))]
    finite = raw[np.isfinite(raw)] if raw.dtype.kind == "f" else raw
    value_range = (f"{finite.min():g} … {finite.max():g}" if finite.size else "no finite values")
    return facts + [("shape", f"{raw.shape[0]} × {raw.shape[1]}"), ("dtype", str(raw.dtype)),
                    ("values", value_range), ("label", label.name if label else "unlabeled")]


@callback(Output(ids.VIEWER, "is_open"), Output(ids.VIEWER_BODY, "children"),
          Input(ids.OPEN, "data"), State(ids.LOG, "value"), State(ids.PERCENTILES, "value"),
          State(ids.COLORMAP, "value"), prevent_initial_call=True)
def open_viewer(request, log, percentiles, colormap):
    if not request:
        raise PreventUpdate
    with read_session() as session:
        row = item_with_label(session, request["item"])
    if row is None:
        raise PreventUpdate
    item, dataset, label = row
    table = dbc.Table(html.Tbody([html.Tr([html.Th(k), html.Td(v)])
                                  for k, v in _facts(item, dataset, label)]),
                      size="sm", id="label-viewer-facts")
    image = html.Img(src=thumbnail_url(item.id, VIEWER_SIZE, log, percentiles or [1, 99],
                                       colormap or "gray"), className="viewer-image")
    return True, dbc.Row([dbc.Col(image, lg=8), dbc.Col(table, lg=4)])


@callback(Output(ids.HELP, "is_open"), Input(ids.HELP_BUTTON, "n_clicks"),
          State(ids.HELP, "is_open"), prevent_initial_call=True)
def toggle_help(_clicks, is_open):
    return not is_open
