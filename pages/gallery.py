"""A gallery of thumbnails with paging (the labeling page builds on it)."""
import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.ids import Gallery as ids

dash.register_page(__name__, path="/gallery", title="Gallery · beamlabel", name="Gallery")

PAGE_SIZES = (12, 24, 48, 96, 200)


def _pager():
    return dbc.InputGroup([
        dbc.Button(html.I(className="bi bi-chevron-double-left"), id=ids.FIRST,
                   color="secondary", outline=True, title="first page"),
        dbc.Button(html.I(className="bi bi-chevron-left"), id=ids.PREVIOUS,
                   color="secondary", outline=True, title="previous page"),
        dbc.Input(id=ids.PAGE, type="number", min=1, value=1, debounce=True,
                  style={"maxWidth": "6rem"}),
        dbc.InputGroupText(id=ids.PAGE_INFO),
        dbc.Button(html.I(className="bi bi-chevron-right"), id=ids.NEXT,
                   color="secondary", outline=True, title="next page"),
        dbc.Button(html.I(className="bi bi-chevron-double-right"), id=ids.LAST,
                   color="secondary", outline=True, title="last page"),
    ], size="sm", style={"width": "auto"})


def layout(dataset=None, **_query):
    controls = dbc.Row([
        dbc.Col(dcc.Dropdown(id=ids.DATASET, value=int(dataset) if dataset else None,
                             placeholder="Choose a data set", clearable=False), md=4),
        dbc.Col(_pager(), md="auto"),
        dbc.Col(dbc.InputGroup([
            dbc.InputGroupText("per page"),
            dbc.Select(id=ids.PAGE_SIZE, value="48",
                       options=[{"label": str(n), "value": str(n)} for n in PAGE_SIZES]),
        ], size="sm"), md=2),
        dbc.Col(dbc.InputGroup([
            dbc.InputGroupText("size"),
            dbc.Select(id=ids.THUMB_SIZE, value="128",
                       options=[{"label": f"{n} px", "value": str(n)} for n in (64, 96, 128, 192, 256)]),
        ], size="sm"), md=2),
    ], className="g-2 align-items-center mb-2")
    return html.Div([
        controls,
        html.Div(id=ids.SUMMARY, className="text-muted small mb-2"),
        html.Div(id=ids.GRID, className="thumb-grid"),
    ])
