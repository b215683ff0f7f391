"""The labeling page's full-resolution viewer: the image with zoom and pan, the raw value
under the pointer, the image's facts, previous / next through the gallery's page, and the
labeling keys on the image shown (behaviour: callbacks/label_viewer.py and the assets
viewer_keys.js, viewer_readout.js)."""
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.ids import Label as ids

HINTS = (("← →", "previous / next"), ("1 … 9", "label"), ("u", "unlabel"), ("z", "undo"),
         ("wheel / drag", "zoom / pan"), ("double-click", "whole image"), ("Esc", "close"))
GRAPH_CONFIG = {"scrollZoom": True, "displaylogo": False, "doubleClick": "reset",
                "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"]}


def _navigation():
    return dbc.ButtonGroup([
        dbc.Button(html.I(className="bi bi-chevron-left"), id=ids.VIEWER_PREVIOUS,
                   color="secondary", outline=True, size="sm", title="previous image (←)"),
        dbc.Button(html.I(className="bi bi-chevron-right"), id=ids.VIEWER_NEXT,
                   color="secondary", outline=True, size="sm", title="next image (→)"),
    ], className="me-3")


def _side():
    hints = [html.Span([html.Kbd(keys), f" {what}"], className="text-nowrap")
             for keys, what in HINTS]
    return [
        html.Div(id=ids.VIEWER_FACTS),
        html.Div(id=ids.VIEWER_FEEDBACK, className="viewer-feedback small"),
        html.Div(hints, className="d-flex flex-wrap column-gap-3 small text-muted mt-2"),
    ]


def viewer_modal() -> list:
    """The viewer's stores and its modal, for the labeling page's layout."""
    # as tall as the window allows below the dialog's header (label_viewer.css sizes the rest)
    graph = dcc.Graph(id=ids.VIEWER_GRAPH, config=GRAPH_CONFIG, responsive=True,
                      style={"height": "calc(100vh - 150px)", "minHeight": "240px"})
    body = dbc.Row([
        dbc.Col([graph, html.Div(id=ids.VIEWER_READOUT, className="viewer-readout small")],
                lg=9),
        dbc.Col(_side(), lg=3, className="viewer-side"),
    ], className="g-2")
    return [
        dcc.Store(id=ids.VIEWER_ITEM),
        dcc.Store(id=ids.VIEWER_KEY),
        dbc.Modal([
            dbc.ModalHeader(html.Div([_navigation(),
                                      dbc.ModalTitle(id=ids.VIEWER_TITLE, className="fs-6")],
                                     className="d-flex align-items-center")),
            dbc.ModalBody(body, id=ids.VIEWER_BODY),
        ], id=ids.VIEWER, is_open=False, size="xl", dialog_class_name="viewer-dialog"),
    ]
