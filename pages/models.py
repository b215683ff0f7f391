"""The model library: every training run that succeeded, with what it is and what it learnt
from; rename and describe a model, open its results, export it as one file, delete it with
its files; import a model file."""
import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.ids import Models as ids
from ml.model_files import MAX_FILE_BYTES, SUFFIX
from services import current_services
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
                html.A(id=ids.RESULTS_LINK, className="small me-2"),
                html.A([html.I(className="bi bi-download me-1"), "Export"], id=ids.EXPORT_LINK,
                       className="small me-auto", title="download the model as one "
                                                        f"{SUFFIX} file a colleague can import"),
                dbc.Button([html.I(className="bi bi-trash me-1"), "Delete"], id=ids.DELETE,
                           size="sm", color="danger", outline=True,
                           title="delete the model and its files (asks first)"),
            ], className="d-flex align-items-center mt-2 mb-3"),
            html.Div(id=ids.FACTS),
        ]),
    ], id=ids.DETAIL, style={"display": "none"}, className="mb-3")


def upload_limit(max_request_mb: float) -> int:
    """The largest file the page can import: it travels base64-encoded (4 bytes per 3) in one
    request of at most ``max_request_mb``; larger ones go through the REST import."""
    return min(MAX_FILE_BYTES, int(max_request_mb * 2**20 * 3 / 4) - 2**12)


def _import_card():
    """Import a model file exported by beamlabel (here or elsewhere); a refusal says why."""
    limit = upload_limit(current_services().settings.max_request_mb)
    return dbc.Card(dbc.CardBody([
        dcc.Upload(html.Div([html.I(className="bi bi-upload me-1"), "Import a model: drop a ",
                             html.Code(SUFFIX), " file exported by beamlabel here, or ",
                             html.A("choose one")]),
                   id=ids.IMPORT_UPLOAD, accept=SUFFIX, max_size=limit,
                   className="border border-dashed rounded p-2 text-center small"),
        html.Div(f"Up to {limit / 2**20:.0f} MB here; larger files through "
                 "POST /api/v1/models/import.", className="form-text"),
        html.Div(id=ids.IMPORT_MESSAGE, className="mt-2"),
    ]), className="mb-3")


def layout(**_query):
    return html.Div([
        dbc.Row([
            dbc.Col([_filters(), html.Div(id=ids.FEEDBACK),
                     html.Div(id=ids.TABLE, className="table-responsive")], lg=8),
            dbc.Col([_card(), _import_card()], lg=4),
        ]),
        dcc.Store(id=ids.SELECTED), dcc.Store(id=ids.CHANGED, data=0),
        _delete_confirmation(),
    ])
