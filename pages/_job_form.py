"""Parameter forms of the pages that start jobs: one labelled row per parameter with the
slot where a refusal of that parameter is shown, grouped in cards."""
import dash_bootstrap_components as dbc
from dash import html


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
