"""Parameter forms of the pages that start jobs: one labelled row per parameter with the
slot where a refusal of that parameter is shown, grouped in cards."""
import dash_bootstrap_components as dbc
from dash import dcc, html

from ml.job_kinds import Param


def field_row(error_type: str, name: str, label: str, hint: str, control):
    """``control`` under ``label`` (and ``hint``), with the message slot
    ``{"type": error_type, "index": name}`` below it."""
    return dbc.Row([
        dbc.Label([label, html.Div(hint, className="form-text mt-0")] if hint else label,
                  width=5, className="small"),
        dbc.Col([control, html.Div(id={"type": error_type, "index": name},
                                   className="invalid-feedback d-block small")], width=7),
    ], className="mb-1")


def fields_card(title: str, rows, extra=()):
    return dbc.Card([dbc.CardHeader(title), dbc.CardBody(list(rows) + list(extra))],
                    className="mb-3")


def number_input(component_id: dict, param: Param):
    """A number field with the parameter's default, bounds and step (1 for integers)."""
    return dbc.Input(id=component_id, type="number", value=param.default, min=param.low,
                     max=param.high, step=1 if param.type is int else "any", size="sm",
                     debounce=True)


def dataset_picker(dropdown_id: str, requested_id: str, requested):
    """The data-set dropdown and the store of the data set named in the URL."""
    return [dbc.Label("Data set", className="small"),
            dcc.Dropdown(id=dropdown_id, clearable=False, placeholder="Choose a data set",
                         className="mb-2"),
            dcc.Store(id=requested_id, data=int(requested) if requested else None)]
