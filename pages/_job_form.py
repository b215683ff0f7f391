"""Parameter forms of the pages that start jobs: one labelled row per parameter with the
slot where a refusal of that parameter is shown, grouped in cards; the input of a parameter
follows its spec (a choice, a flag or a number with bounds)."""
import dash_bootstrap_components as dbc
from dash import dcc, html

from db.models import MAX_ROW_ID
from ml.init_model import DEFAULT_PRETRAINED_LR_SCALE
from ml.params import Choice, Flag, Nullable, Param

# Label and hint of the parameters that several forms ask for, said the same way on each.
FIELD_TEXTS = {
    "epochs": ("epochs", ""), "batch_size": ("batch size", ""),
    "learning_rate": ("learning rate", ""), "optimizer": ("optimizer", ""),
    "patience": ("early stopping", "epochs without improvement; 0 = off"),
    "seed": ("seed", ""),
    "log": ("log scale", ""), "pmin": ("lower percentile", ""),
    "pmax": ("upper percentile", ""),
    "hflip": ("horizontal flips", ""), "vflip": ("vertical flips", ""),
}


def start_fields(pretrained_part: str, trained_part: str) -> tuple:
    """(parameter, label, hint) of the fields that start a training run from a model
    (fine-tuning), naming the model's pre-trained part (encoder, backbone) and the part
    that always trains (decoder, head)."""
    return (
        ("init_model", "start from", "a trained model of the same network, from any data "
                                     "set; empty = from scratch"),
        ("freeze_pretrained", f"freeze the {pretrained_part}", f"only the {trained_part} trains"),
        ("pretrained_lr_scale", f"{pretrained_part} learning-rate factor",
         f"0 to 1; empty = {DEFAULT_PRETRAINED_LR_SCALE:g} with a model to start from"),
    )


def model_picker(component_id: dict):
    """The dropdown of the models a run may start from (its options follow the jobs:
    ``callbacks.job_launch``); empty means from scratch."""
    return dcc.Dropdown(id=component_id, options=[], placeholder="from scratch",
                        className="small")


def shared_fields(*names: str) -> tuple:
    """(parameter, label, hint) of parameters whose label and hint are in FIELD_TEXTS."""
    return tuple((name, *FIELD_TEXTS[name]) for name in names)


def field_row(error_type: str, name: str, label: str, hint: str, control):
    """``control`` under ``label`` (and ``hint``), with the message slot
    ``{"type": error_type, "index": name}`` below it."""
    return dbc.Row([
        dbc.Label([label, html.Div(hint, className="form-text mt-0")] if hint else label,
                  width=5, className="small"),
        dbc.Col([control, html.Div(id={"type": error_type, "index": name},
                                   className="invalid-feedback d-block small")], width=7),
    ], className="mb-1")


def fields_card(title: str, error_type: str, fields, control):
    """A card of ``fields`` ((parameter, label, hint) each): ``control(parameter)`` is the
    input of a parameter, shown by :func:`field_row`."""
    rows = [field_row(error_type, name, label, hint, control(name))
            for name, label, hint in fields]
    return dbc.Card([dbc.CardHeader(title), dbc.CardBody(rows)], className="mb-3")


def number_input(component_id: dict, param: Param, empty: bool = False):
    """A number field with the parameter's default (or ``empty``, saying 'default'), bounds
    and step (1 for integers)."""
    return dbc.Input(id=component_id, type="number", value=None if empty else param.default,
                     placeholder="default" if empty else None, min=param.low, max=param.high,
                     step=1 if param.type is int else "any", size="sm", debounce=True)


def spec_input(component_id: dict, spec):
    """The input of one parameter spec: a select for a Choice (its first option chosen), a
    switch for a Flag, a number field for a Param (empty for a Nullable)."""
    if isinstance(spec, Choice):
        return dbc.Select(id=component_id, value=spec.default, size="sm",
                          options=[{"label": option, "value": option}
                                   for option in spec.options])
    if isinstance(spec, Flag):
        return dbc.Switch(id=component_id, value=spec.default, className="mt-1")
    if isinstance(spec, Nullable):
        return number_input(component_id, spec.param, empty=True)
    return number_input(component_id, spec)


def row_id_from_url(text) -> int | None:
    """A row id named in the page's URL (``?dataset=3``), or None when it is none."""
    text = str(text or "")
    return int(text) if text.isdigit() and 0 < int(text) <= MAX_ROW_ID else None


def dataset_picker(dropdown_id: str, requested_id: str, requested):
    """The data-set dropdown and the store of the data set named in the URL."""
    return [dbc.Label("Data set", className="small"),
            dcc.Dropdown(id=dropdown_id, clearable=False, placeholder="Choose a data set",
                         className="mb-2"),
            dcc.Store(id=requested_id, data=row_id_from_url(requested))]
