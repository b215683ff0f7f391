"""The autoencoder page's feature sources card: the other jobs that give every item a feature
vector without labels, chosen by job kind, each with its parameters. Behaviour:
callbacks/feature_sources.py."""
from dataclasses import dataclass

import dash_bootstrap_components as dbc
from dash import html

from callbacks.ids import Autoencoder as ids
from ml.kinds import (backbone_features, contrastive_features, label_features,
                      scattering_features)
from pages._job_form import field_row, shared_fields, spec_input


@dataclass(frozen=True)
class FeatureSource:
    title: str
    about: str
    specs: dict  # parameter -> ml.params spec; the other fields are text
    fields: tuple  # (parameter, label, hint), in the order shown


# The encoder's shape and the views of an image, shared by the two encoders' forms.
ENCODER_ROWS = (
    ("image_size", "image side", "pixels; a multiple of 2^depth"),
    ("depth", "depth d", "levels of the encoder"),
    ("base_channels", "base channels B", "channels of the first level"),
    ("latent_dim", "feature size", "length of the feature vector"))
VIEW_ROWS = (
    ("rotation", "rotation", "largest angle, degrees"),
    *shared_fields("hflip", "vflip"),
    ("intensity", "gain change", "0 = off"),
    ("counting_noise", "counting noise", "as at a lower dose"),
    ("shift", "centre shift", "largest, as a share of the side"))

FEATURE_SOURCES = {
    "scattering_features": FeatureSource(
        "Scattering features", "Radial profile, azimuthal harmonics and peaks around each "
        "image's beam centre. No training: ready in minutes.", scattering_features.SPEC,
        (("batch_size", "batch size", "images read at a time"),)),
    "contrastive_features": FeatureSource(
        "Contrastive encoder", "A small encoder trained to give views of one image the same "
        "vector: rotated, flipped, with another gain or counting noise, shifted, with gaps.",
        contrastive_features.SPEC, (
            ("epochs", "epochs", "0 = from the image side: more for small images"),
            *shared_fields("batch_size", "learning_rate", "optimizer"),
            ("temperature", "temperature", "of the loss; lower = sharper"),
            *ENCODER_ROWS,
            ("projection_dim", "projection size", "the head the loss sees, then dropped"),
            ("val_share", "validation share", "0.01 to 0.9"),
            *shared_fields("patience", "seed"),
            *VIEW_ROWS,
            ("mask", "gaps and beam stop", "chance that a view gets them"),
            *shared_fields("log", "pmin", "pmax"))),
    "label_features": FeatureSource(
        "Encoder of the labels so far", "A small encoder trained in seconds on the labels "
        "made so far, its features stored next to another feature job's. Run it again as "
        "labels accumulate: the suggestions then learn what your labels say the classes are.",
        label_features.SPEC, (
            ("source_job_id", "next to job", "a feature job's id (e.g. a contrastive one); "
                                             "0 = none"),
            ("start_from_source", "start from its encoder",
             "when it is a contrastive job of the same image side and network"),
            ("steps", "steps", "training batches"),
            *shared_fields("batch_size", "learning_rate", "seed"),
            *ENCODER_ROWS, *VIEW_ROWS,
            *shared_fields("log", "pmin", "pmax"))),
    "backbone_features": FeatureSource(
        "Pretrained backbone", "The pooled features of a frozen timm network. Its weights "
        "file must lie under a data root or the data home; nothing is downloaded.",
        backbone_features.SPEC, (
            ("model", "timm model", "e.g. resnet18, convnext_atto"),
            ("weights_path", "weights file", ".pth or .safetensors; empty = random"),
            ("batch_size", "batch size", ""),
            ("image_size", "image side", "pixels; 0 = the model's own"),
            ("seed", "seed", "of the random weights when there is no file"),
            *shared_fields("log", "pmin", "pmax"))),
}
TEXT_DEFAULTS = {("backbone_features", "model"): backbone_features.DEFAULT_MODEL}


def _control(kind: str, name: str):
    component_id = {"type": ids.FEATURE_FIELD, "index": f"{kind}.{name}"}
    spec = FEATURE_SOURCES[kind].specs.get(name)
    if spec is not None:
        return spec_input(component_id, spec)
    return dbc.Input(id=component_id, type="text", size="sm", debounce=True,
                     value=TEXT_DEFAULTS.get((kind, name), ""))


def _group(kind: str, source: FeatureSource, hidden: bool):
    rows = [field_row(ids.FEATURE_FIELD_ERROR, f"{kind}.{name}", label, hint,
                      _control(kind, name)) for name, label, hint in source.fields]
    return html.Div([html.P(source.about, className="small text-muted mb-2"), *rows],
                    id={"type": ids.FEATURE_GROUP, "index": kind},
                    style={"display": "none"} if hidden else None)


def feature_sources_card():
    first = next(iter(FEATURE_SOURCES))
    return dbc.Card([dbc.CardHeader("Feature sources without an autoencoder"), dbc.CardBody([
        dbc.Select(id=ids.FEATURE_KIND, value=first, size="sm", className="mb-2",
                   options=[{"label": source.title, "value": kind}
                            for kind, source in FEATURE_SOURCES.items()]),
        *[_group(kind, source, hidden=kind != first)
          for kind, source in FEATURE_SOURCES.items()],
        dbc.Button([html.I(className="bi bi-cpu me-1"), "Compute features"],
                   id=ids.FEATURE_RUN, color="primary", outline=True, className="w-100 mt-2"),
        html.Div(id=ids.FEATURE_FEEDBACK, className="mt-2"),
    ])], className="mb-3")
