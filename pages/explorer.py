"""The latent space explorer: project a feature job's vectors, find clusters, select points
with the lasso and label them as a group. Zoomed out over many points, the plot shows their
density; zoomed in, the points."""
import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.ids import Explorer as ids
from ml.kinds.projection import HEATMAP_PARAMS, SPACES
from ml.projection import CLUSTERINGS, PROJECTIONS
from ml.projection_view import POINTS_LIMIT
from pages._job_form import FIELD_TEXTS, dataset_picker, spec_input
from pages._jobs_panel import jobs_panel

dash.register_page(__name__, path="/explorer", title="Explorer · beamlabel", name="Explorer",
                   order=4)

IMAGE_LABELS = {"heatmap_size": "heat-map size (px)",
                **{name: FIELD_TEXTS[name][0] for name in ("log", "pmin", "pmax")}}


def _field(field_type: str, index: str, label: str, spec):
    return dbc.Row([dbc.Label(label, width=6, className="small"),
                    dbc.Col(spec_input({"type": field_type, "index": index}, spec), width=6)],
                   className="mb-1")


def _method_fields(group_type: str, field_type: str, method: str, params: dict, hidden: bool):
    fields = [_field(field_type, f"{method}.{name}", name.replace("_", " "), spec)
              for name, spec in params.items() if name != "n_components"]
    return html.Div(fields or [html.Div("no parameters", className="small text-muted")],
                    id={"type": group_type, "index": method},
                    style={"display": "none"} if hidden else None)


def _projection_card():
    return dbc.Card([dbc.CardHeader("Projection"), dbc.CardBody([
        dbc.RadioItems(id=ids.METHOD, inline=True, value="pca", className="mb-1",
                       options=[{"label": m.title, "value": name}
                                for name, m in PROJECTIONS.items()]),
        dbc.RadioItems(id=ids.COMPONENTS, inline=True, value=2, className="mb-2",
                       options=[{"label": "2-D", "value": 2}, {"label": "3-D", "value": 3}]),
        *[_method_fields(ids.PROJECTION_GROUP, ids.PROJECTION_FIELD, name, m.params,
                         hidden=name != "pca") for name, m in PROJECTIONS.items()],
    ])], className="mb-2")


def _clustering_card():
    return dbc.Card([dbc.CardHeader("Clustering"), dbc.CardBody([
        dbc.Select(id=ids.CLUSTERING, value="none", size="sm", className="mb-2",
                   options=[{"label": "no clustering", "value": "none"}]
                   + [{"label": m.title, "value": name} for name, m in CLUSTERINGS.items()]),
        dbc.RadioItems(id=ids.CLUSTER_SPACE, inline=True, value=SPACES.default,
                       className="mb-2 small",
                       options=[{"label": "of the projected points", "value": "projection"},
                                {"label": "of the feature vectors", "value": "features"}]),
        *[_method_fields(ids.CLUSTER_GROUP, ids.CLUSTER_FIELD, name, m.params, hidden=True)
          for name, m in CLUSTERINGS.items()],
    ])], className="mb-2")


def _images_card():
    return html.Details([
        html.Summary("Images for the heat maps", className="small"),
        *[_field(ids.IMAGE_FIELD, name, IMAGE_LABELS[name], spec)
          for name, spec in HEATMAP_PARAMS.items()],
    ], className="mb-2")


def _form(requested: dict):
    return html.Div([
        dbc.Card(dbc.CardBody([
            dcc.Store(id=ids.REQUESTED, data=requested),
            dcc.Store(id=ids.PENDING, data=None),
            *dataset_picker(ids.DATASET, ids.DATASET_REQUESTED, requested["dataset"]),
            dbc.Label("Feature source", className="small"),
            dcc.Dropdown(id=ids.FEATURE_JOB, clearable=False, className="mb-2",
                         placeholder="a finished autoencoder or classifier inference job"),
        ]), className="mb-2"),
        _projection_card(),
        _clustering_card(),
        _images_card(),
        dbc.Button([html.I(className="bi bi-diagram-3 me-1"), "Compute projection"],
                   id=ids.RUN, color="primary", className="w-100 mb-2"),
        dcc.Loading(html.Div(id=ids.FEEDBACK), delay_show=300),
        jobs_panel(ids.SCOPE, ("projection",), title="Projection jobs"),
    ])


def _plot():
    return dbc.Card([
        dbc.CardHeader(dbc.Row([
            dbc.Col(dcc.Dropdown(id=ids.PROJECTION, clearable=False,
                                 placeholder="open a stored projection"), md=7),
            dbc.Col(dbc.InputGroup([
                dbc.InputGroupText("colour by"),
                dbc.Select(id=ids.COLOUR, value="label",
                           options=[{"label": "current label", "value": "label"}]),
            ], size="sm"), md=5),
        ], className="g-2 align-items-center")),
        dbc.CardBody([
            dcc.Loading(dcc.Graph(id=ids.GRAPH, style={"height": "620px"}, clear_on_unhover=True,
                                  config={"scrollZoom": True, "displaylogo": False}),
                        delay_show=300),
            dcc.Store(id=ids.PLOTTED, data=None),
            dcc.Store(id=ids.FEATURE_ROWS, data=None),
            dcc.Interval(id=ids.ARRIVALS_POLL, interval=3000),
            html.Div(id=ids.PLACED_NOTE, className="small"),
            dbc.InputGroup([
                dbc.InputGroupText("draw points while at most"),
                dbc.Input(id=ids.POINTS_LIMIT, type="number", min=1, step=1,
                          value=POINTS_LIMIT, debounce=True),
                dbc.InputGroupText("are in view, else their density"),
            ], size="sm", className="my-1"),
            dcc.Tooltip(id=ids.TOOLTIP, direction="right"),
            html.Div(id=ids.PLOT_FEEDBACK),
            html.Div("Drag a lasso around points (2-D; the box is on the plot's toolbar), click "
                     "a point, or pick a whole cluster; hovering a point shows its image, the "
                     "legend hides and shows groups.", className="small text-muted"),
        ]),
    ], className="mb-3")


def _selection_panel():
    return dbc.Card([
        dbc.CardHeader("Selection"),
        dbc.CardBody([
            dcc.Store(id=ids.SELECTION, data=None),
            dcc.Store(id=ids.REVISION, data=0),
            dbc.InputGroup([
                dbc.Select(id=ids.CLUSTER, options=[], placeholder="a cluster"),
                dbc.Button("Select cluster", id=ids.SELECT_CLUSTER, color="secondary",
                           outline=True),
            ], size="sm", className="mb-2"),
            html.Div(id=ids.SUMMARY, className="small mb-2"),
            dbc.InputGroup([
                dbc.Select(id=ids.LABEL, options=[], placeholder="a label class"),
                dbc.Button([html.I(className="bi bi-tags me-1"), "Label selection"],
                           id=ids.APPLY_LABEL, color="primary"),
            ], size="sm", className="mb-2"),
            html.Div(id=ids.LABEL_FEEDBACK),
            html.A([html.I(className="bi bi-grid-3x3-gap me-1"), "Open in the gallery"],
                   id=ids.GALLERY_LINK, href="",
                   className="btn btn-outline-secondary btn-sm mb-3 disabled"),
            dbc.RadioItems(id=ids.STATISTIC, inline=True, value="mean", className="small",
                           options=[{"label": "mean image", "value": "mean"},
                                    {"label": "standard deviation", "value": "std"}]),
            dcc.Graph(id=ids.HEATMAP, config={"displayModeBar": False},
                      style={"height": "300px"}),
            html.Div(id=ids.THUMBS, className="explorer-thumbs"),
        ]),
    ], className="mb-3")


def _number(text):
    return int(text) if text and str(text).isdigit() else None


def layout(dataset=None, projection=None, items=None, **_query):
    requested = {"dataset": _number(dataset), "projection": _number(projection),
                 "items": [int(i) for i in (items or "").split(",") if i.strip().isdigit()]}
    return dbc.Row([dbc.Col(_form(requested), lg=3),
                    dbc.Col(_plot(), lg=6),
                    dbc.Col(_selection_panel(), lg=3)])
