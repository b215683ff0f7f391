"""The classifier page (MLCoach): train a timm classifier on the labels, compare runs, and
look at its class probabilities over the data set."""
import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.ids import Classifier as ids
from ml.classifier import FAMILIES
from ml.classifier_speed import COSTS
from ml.kinds.classifier import TRAIN_SPEC
from pages._job_form import (dataset_picker, fields_card, model_picker, row_id_from_url,
                             shared_fields, spec_input, start_fields)
from pages._jobs_panel import jobs_panel

dash.register_page(__name__, path="/classifier", title="Classifier · beamlabel",
                   name="Classifier", order=3)

# Form fields by card: (parameter, label, hint).
MODEL_FIELDS = (
    ("model", "model", "timm architecture"),
    ("image_size", "image size", "pixels per side; empty = the model's usual size"),
    ("weights_path", "weights file", "a local .pth or .safetensors; empty = from scratch"),
    ("freeze_backbone", "train only the head", "needs a weights file"),
)
TRAINING_FIELDS = (
    *shared_fields("epochs", "batch_size", "learning_rate", "optimizer"),
    ("val_share", "validation share", "per class"),
    ("balance", "rare classes", "class_weights: weigh their loss; sampler: draw them more"),
    ("label_smoothing", "label smoothing", "0 = off"),
    *shared_fields("patience", "seed"),
    ("event_id", "labels as of event", "0 = the current labels"),
)
DATA_FIELDS = (
    *shared_fields("log", "pmin", "pmax"),
    ("rotation", "rotation", "degrees either way; 0 = off"),
    *shared_fields("hflip", "vflip"),
)
START_FIELDS = start_fields("backbone", "head")
PLOT_CONFIG = {"displayModeBar": False}


def _field_id(name: str) -> dict:
    return {"type": ids.FIELD, "index": name}


def model_options() -> list[dict]:
    """Each model with its size; the hint under the field says what it costs."""
    return [{"label": f"{family.title} · {name} ({COSTS[name][0]:.0f} M parameters, "
                      f"{family.default_size} px)", "value": name}
            for family in FAMILIES.values() for name in family.models]


def _control(name: str):
    if name == "model":
        return html.Div([
            dbc.Select(id=_field_id(name), value=TRAIN_SPEC[name].default, size="sm",
                       options=model_options()),
            html.Div(id=ids.MODEL_HINT, className="form-text")])
    if name == "image_size":
        return dbc.Input(id=_field_id(name), type="number", min=1, step=1, size="sm",
                         placeholder="default", debounce=True)
    if name == "weights_path":
        return dbc.Input(id=_field_id(name), type="text", size="sm", debounce=True,
                         placeholder="/path/to/weights.pth")
    if name == "init_model":
        return model_picker(_field_id(name))
    return spec_input(_field_id(name), TRAIN_SPEC[name])


def _card(title: str, fields):
    return fields_card(title, ids.FIELD_ERROR, fields, _control)


def _graph(component_id: str, height: int):
    """A plot that stays hidden until it has something to show (its callback sets the
    style); a hint says meanwhile what to do."""
    return dcc.Graph(id=component_id, config=PLOT_CONFIG,
                     style={"height": f"{height}px", "display": "none"})


def _hint(component_id: str):
    return html.Div(id=component_id, className="text-muted small")


def _results(job):
    curves = dbc.Card([
        dbc.CardHeader(html.Div([
            html.Span("Training curves", className="fw-semibold"),
            dbc.Button([html.I(className="bi bi-cpu me-1"),
                        "Classify the whole data set with this model"], id=ids.INFER,
                       color="success", outline=True, size="sm", disabled=True,
                       title="probabilities and features of every item"),
        ], className="d-flex justify-content-between align-items-center")),
        dbc.CardBody([_hint(ids.CURVES_HINT),
                      dbc.Row([dbc.Col(_graph(ids.LOSS, 280), md=6),
                               dbc.Col(_graph(ids.ACCURACY, 280), md=6)])]),
    ], className="mb-3")
    validation = dbc.Card([dbc.CardHeader("Validation set of the selected run"),
                           dbc.CardBody(html.Div(id=ids.REPORT))], className="mb-3")
    compare = dbc.Card([
        dbc.CardHeader("Compare finished runs"),
        dbc.CardBody([
            dcc.Dropdown(id=ids.COMPARE_RUNS, multi=True, placeholder="Choose runs",
                         className="mb-2"),
            html.Div(id=ids.COMPARE_TABLE),
            _graph(ids.COMPARE_PLOT, 260),
        ]),
    ], className="mb-3")
    return html.Div([jobs_panel(ids.SCOPE, ("classifier_train", "classifier_infer"),
                                title="Classifier jobs", selected=row_id_from_url(job)),
                     dcc.Store(id=ids.KNOWN_FINISHED),
                     curves, _apply_model(), validation, compare, _probabilities()])


def _apply_model():
    """Classify this data set with a model of any data set: its classes map by name."""
    return dbc.Card([
        dbc.CardHeader("Classify this data set with a model of any data set"),
        dbc.CardBody([
            dbc.Row([
                dbc.Col(dcc.Dropdown(id=ids.APPLY_MODEL, options=[], className="small",
                                     placeholder="a classifier of the model library"), md=6),
                dbc.Col(dbc.Checkbox(id=ids.APPLY_CREATE, value=False,
                                     label="create the model's classes this data set lacks"),
                        md=4),
                dbc.Col(dbc.Button([html.I(className="bi bi-cpu me-1"), "Classify"],
                                   id=ids.APPLY, color="success", outline=True, size="sm",
                                   disabled=True), md=2),
            ], className="g-2 align-items-center"),
            html.Div(id=ids.APPLY_NOTE, className="form-text"),
        ]),
    ], className="mb-3")


def _probabilities():
    """The inference's confidence histogram, images to click (the least confident, or a
    clicked bar's) or to find by file name, and the chosen image's probabilities."""
    chooser = dbc.Row([
        dbc.Col([dbc.Label("Inference job", className="small"),
                 dcc.Dropdown(id=ids.INFERENCE, placeholder="No inference yet")], md=7),
        dbc.Col([dbc.Label("Find an image by file name", html_for=ids.ITEM_NAME,
                           className="small"),
                 dbc.Input(id=ids.ITEM_NAME, type="search", size="sm", debounce=True,
                           maxLength=200, placeholder="part of its name, then Enter"),
                 html.Div(id=ids.ITEM_NAME_NOTE, className="form-text")], md=5),
    ], className="mb-2")
    chosen = dbc.Row([
        dbc.Col(html.Div(id=ids.ITEM_VIEW), md=4),
        dbc.Col(_graph(ids.PROBABILITIES, 260), md=8),
    ])
    return dbc.Card([
        dbc.CardHeader("Class probabilities"),
        dbc.CardBody([
            _hint(ids.PROBABILITY_HINT),
            html.Div([
                chooser, _graph(ids.CONFIDENCE, 280),
                html.Div(id=ids.STRIP_TITLE, className="small fw-semibold mt-2 mb-1"),
                html.Div(id=ids.STRIP, className="d-flex flex-wrap gap-2 mb-2"),
                chosen, dcc.Store(id=ids.ITEM),
            ], id=ids.PROBABILITY_AREA, style={"display": "none"}),
        ]),
    ], className="mb-3")


def layout(dataset=None, job=None, **_query):
    form = html.Div([
        dbc.Card(dbc.CardBody([
            *dataset_picker(ids.DATASET, ids.DATASET_REQUESTED, dataset),
            html.Div(id=ids.TRAINING_DATA, className="mb-2"),
            dbc.Button([html.I(className="bi bi-play-fill me-1"), "Train on these labels"],
                       id=ids.TRAIN, color="primary", className="w-100 mb-2"),
            html.Div(id=ids.FEEDBACK),
        ]), className="mb-3"),
        _card("Model", MODEL_FIELDS),
        _card("Training", TRAINING_FIELDS),
        _card("Images and augmentation", DATA_FIELDS),
        _card("Start from a trained classifier", START_FIELDS),
    ])
    return dbc.Row([dbc.Col(form, lg=4), dbc.Col(_results(job), lg=8)])
