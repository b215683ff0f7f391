"""The model library: every training run that succeeded, with what it is and what it learnt
from; rename and describe a model, open its results, delete it with its files."""
import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.ids import Models as ids
from ml.model_library import DESCRIPTION_MAX, NAME_MAX, model_kinds

dash.register_page(__name__, path="/models", title="Models · beamlabel", name="Models",
                   order=6)


def _filters():
    kinds = [{"label": "All kinds", "value": ids.EVERY},
             *({"label": kind.removesuffix("_train"), "value": kind} for kind in model_kinds())]
    return dbc.Card(dbc.CardBody(dbc.Row([
        dbc.Label("Data set", html_for=ids.DATASET, width="auto", className="small fw-semibold"),
        dbc.Col(dbc.Select(id=ids.DATASET, size="sm", value=ids.EVERY, options=[]),
                width=4),
        dbc.Label("Kind", html_for=ids.KIND, width="auto", className="small fw-semibold"),
        dbc.Col(dbc.Select(id=ids.KIND, size="sm", value=ids.EVERY, options=kinds),
                width=3),
    ], className="g-2 align-items-center")), className="mb-3")


def _delete_confirmation():
    """The dialog Delete opens: what deleting the model loses, Keep or Delete."""
    return dbc.Modal([
        dbc.ModalHeader(dbc.ModalTitle("Delete this model?")),
        dbc.ModalBody(html.Div(id=ids.CONFIRM_TEXT)),
        dbc.ModalFooter([
            dbc.Button("Keep it", id=ids.CONFIRM_KEEP, color="secondary", outline=True),
            dbc.Button([html.I(className="bi bi-trash me-1"), "Delete for good"],
                       id=ids.CONFIRM_DELETE, color="danger"),
        ]),
    ], id=ids.CONFIRM_MODAL, is_open=False, fade=False)


def _card():
    """The selected model: its name and description (saved in place), facts and actions."""
    return dbc.Card([
        dbc.CardHeader("Selected model", className="fw-semibold"),
        dbc.CardBody([
            dbc.Label("Name", html_for=ids.NAME, className="small fw-semibold mb-0"),
            dbc.Input(id=ids.NAME, size="sm", maxlength=NAME_MAX),
            html.Div(id=ids.NAME_ERROR, className="invalid-feedback d-block small"),
            dbc.Label("Description", html_for=ids.DESCRIPTION,
                      className="small fw-semibold mb-0 mt-2"),
            dbc.Textarea(id=ids.DESCRIPTION, rows=3, maxlength=DESCRIPTION_MAX,
                         placeholder="what it was trained for, on which beamtime..."),
            html.Div(id=ids.DESCRIPTION_ERROR, className="invalid-feedback d-block small"),
            html.Div([
                dbc.Button([html.I(className="bi bi-check2 me-1"), "Save"], id=ids.SAVE,
                           size="sm", color="primary", className="me-2"),
                html.A(id=ids.RESULTS_LINK, className="small me-auto"),
                dbc.Button([html.I(className="bi bi-trash me-1"), "Delete"], id=ids.DELETE,
                           size="sm", color="danger", outline=True,
                           title="delete the model and its files (asks first)"),
            ], className="d-flex align-items-center mt-2 mb-3"),
            html.Div(id=ids.FACTS),
        ]),
    ], id=ids.DETAIL, style={"display": "none"}, className="mb-3")


def layout(**_query):
    return html.Div([
        dbc.Row([
            dbc.Col([_filters(), html.Div(id=ids.FEEDBACK),
                     html.Div(id=ids.TABLE, className="table-responsive")], lg=8),
            dbc.Col(_card(), lg=4),
        ]),
        dcc.Store(id=ids.SELECTED), dcc.Store(id=ids.CHANGED, data=0),
        _delete_confirmation(),
    ])
