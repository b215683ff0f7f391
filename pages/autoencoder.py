"""The autoencoder page (Data Clinic): design, train and apply a convolutional autoencoder."""
import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.ids import Autoencoder as ids
from ml.kinds.autoencoder import CHOICES, FLAGS, TRAIN_NUMBER_PARAMS
from ml.params import Choice, Flag
from pages._feature_sources import FEATURE_SOURCES, feature_sources_card
from pages._job_form import (dataset_picker, fields_card, model_picker, row_id_from_url,
                             shared_fields, spec_input, start_fields)
from pages._jobs_panel import jobs_panel

dash.register_page(__name__, path="/autoencoder", title="Autoencoder · beamlabel",
                   name="Autoencoder", order=2)

# Form fields by card: (parameter, label, hint). image_rows/image_cols form image_size.
NETWORK_FIELDS = (
    ("image_rows", "image height M", "pixels; a multiple of 2^depth"),
    ("image_cols", "image width N", "pixels; a multiple of 2^depth"),
    ("depth", "depth d", "levels; each halves the size, doubles the channels"),
    ("base_channels", "base channels B", "channels of the first level"),
    ("latent_dim", "latent size L", "length of the feature vector"),
)
TRAINING_FIELDS = (
    *shared_fields("epochs", "batch_size", "learning_rate", "optimizer"),
    ("loss", "loss", ""), ("val_share", "validation share", "0 to 0.9"),
    ("step_size", "scheduler step", "epochs; 0 = constant rate"),
    ("gamma", "scheduler gamma", "rate factor per step"),
    *shared_fields("patience", "seed"),
)
DATA_FIELDS = (
    *shared_fields("log", "pmin", "pmax", "hflip", "vflip"),
    ("jitter", "brightness/contrast jitter", "0 = off"),
    ("augment_mode", "augment", "invariant: input only; both: input and target"),
)
START_FIELDS = start_fields("encoder", "decoder")
DEFAULT_IMAGE_SIDE = 64


def _field_id(name: str) -> dict:
    return {"type": ids.FIELD, "index": name}


def _control(name: str):
    if name in ("image_rows", "image_cols"):
        return dbc.Input(id=_field_id(name), type="number", value=DEFAULT_IMAGE_SIDE, min=4,
                         step=1, size="sm", debounce=True)
    if name == "init_model":
        return model_picker(_field_id(name))
    spec = (Choice(CHOICES[name]) if name in CHOICES else
            Flag(FLAGS[name]) if name in FLAGS else TRAIN_NUMBER_PARAMS[name])
    return spec_input(_field_id(name), spec)


def _card(title: str, fields):
    return fields_card(title, ids.FIELD_ERROR, fields, _control)


def _architecture():
    return [
        dcc.Graph(id=ids.ARCHITECTURE, config={"displayModeBar": False},
                  style={"height": "340px"}),
        html.Div(id=ids.ARCHITECTURE_SUMMARY, className="small text-muted"),
    ]


def layout(dataset=None, job=None, **_query):
    form = html.Div([
        dbc.Card(dbc.CardBody([
            *dataset_picker(ids.DATASET, ids.DATASET_REQUESTED, dataset),
            dbc.Button([html.I(className="bi bi-play-fill me-1"),
                        "Train with these parameters"], id=ids.TRAIN, color="primary",
                       className="w-100 mb-2"),
            html.Div(id=ids.FEEDBACK),
        ]), className="mb-3"),
        _card("Network", NETWORK_FIELDS),
        _card("Training", TRAINING_FIELDS),
        _card("Images and augmentation", DATA_FIELDS),
        _card("Start from a trained autoencoder", START_FIELDS),
        feature_sources_card(),
    ])
    results = html.Div([
        dbc.Card([dbc.CardHeader("Architecture (follows the parameters)"),
                  dbc.CardBody(_architecture())], className="mb-3"),
        jobs_panel(ids.SCOPE, ("autoencoder_train", "autoencoder_infer", *FEATURE_SOURCES),
                   title="Autoencoder and feature jobs", selected=row_id_from_url(job)),
        html.Div(id=ids.COLLAPSE),  # the verdict on the selected job's model
        dbc.Card([
            dbc.CardHeader(html.Div([
                html.Span("Loss per epoch", className="fw-semibold"),
                dbc.Button([html.I(className="bi bi-cpu me-1"),
                            "Compute latent vectors with this model"], id=ids.INFER,
                           color="success", outline=True, size="sm", disabled=True,
                           title="run inference over the whole data set"),
            ], className="d-flex justify-content-between align-items-center")),
            dbc.CardBody(dcc.Graph(id=ids.LOSS, config={"displayModeBar": False},
                                   style={"height": "300px"})),
        ], className="mb-3"),
        dbc.Card([dbc.CardHeader("Reconstructions next to the originals (model input)"),
                  dbc.CardBody(html.Div(id=ids.RECONSTRUCTIONS))], className="mb-3"),
    ])
    return dbc.Row([dbc.Col(form, lg=4), dbc.Col(results, lg=8)])
