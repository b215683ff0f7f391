"""Layout of the labeling page's guided modes: the mode switch and one panel per mode
(suggestions, similarity, probability, review). Behaviour: callbacks/label_guided.py,
callbacks/label_suggestions.py and callbacks/label_retrain_loop.py."""
from datetime import datetime, timezone

import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.ids import Label as ids
from db.retrain_loops import EVERY_DEFAULT, EVERY_MAX, EVERY_MIN

MODES = (("manual", "Manual"), ("suggestions", "Suggestions"), ("similarity", "Similarity"),
         ("probability", "Probability"), ("review", "Review"))
UNCERTAINTY_ORDERS = (("none", "file order"), ("least_confidence", "least confidence first"),
                      ("margin", "smallest margin first"), ("entropy", "highest entropy first"))
HIDDEN = {"display": "none"}
LOOP_POLL_MILLISECONDS = 2000


def guided_stores(order=None):
    return [dcc.Store(id=ids.GUIDED_ORDER, data=order), dcc.Store(id=ids.QUERY, data=[]),
            dcc.Store(id=ids.ACCEPT_KEY),
            dcc.Store(id=ids.SESSION_START, data=datetime.now(timezone.utc).isoformat())]


def _group(label, control):
    return dbc.InputGroup([dbc.InputGroupText(label), control], size="sm")


def _col(child, **kwargs):
    return dbc.Col(child, width="auto", **kwargs)


def _job_dropdown(dropdown_id, placeholder):
    return dcc.Dropdown(id=dropdown_id, placeholder=placeholder, clearable=False,
                        style={"minWidth": "22rem"})


def _retrain_loop_row():
    """The retrain loop: on or off, every how many new labels, retrain now, and its status."""
    every = dbc.Input(id=ids.LOOP_EVERY, type="number", min=EVERY_MIN, max=EVERY_MAX, step=1,
                      value=EVERY_DEFAULT, debounce=True, style={"maxWidth": "6rem"})
    return [
        dbc.Row([
            _col(dbc.Switch(id=ids.LOOP_ON, label="keep the model fresh", value=False)),
            _col(dbc.InputGroup([dbc.InputGroupText("retrain every"), every,
                                 dbc.InputGroupText("new labels")], size="sm")),
            _col(dbc.Button([html.I(className="bi bi-arrow-repeat me-1"), "Retrain now"],
                            id=ids.LOOP_NOW, size="sm", color="primary", outline=True)),
            _col(html.Small(id=ids.LOOP_STATUS)),
        ], className="g-2 align-items-center mt-1"),
        html.Div(id=ids.LOOP_FEEDBACK, className="small"),
        dcc.Interval(id=ids.LOOP_POLL, interval=LOOP_POLL_MILLISECONDS, disabled=True),
        dcc.Store(id=ids.LOOP_CHANGED, data=0), dcc.Store(id=ids.LOOP_STATE),
        dcc.Store(id=ids.LOOP_FOLLOWED),
    ]


def _suggestion_panel():
    return html.Div([
        dbc.Row([
            _col(_job_dropdown(ids.SUGGESTION_JOB, "feature source (scattering, contrastive, "
                                                   "backbone, autoencoder or classifier)")),
            _col(_group("suggested as", dbc.Select(id=ids.SUGGESTION_LABEL, value="best",
                                                   options=[]))),
            _col(dbc.Button([html.I(className="bi bi-check2-all me-1"), "Accept page (y)"],
                            id=ids.SUGGESTION_ACCEPT, size="sm", color="primary")),
        ], className="g-2 align-items-center mb-1"),
        html.Div(id=ids.SUGGESTION_INFO, className="small"),
        *_retrain_loop_row(),
    ], id=ids.SUGGESTION_PANEL, style=HIDDEN, className="guided-panel")


def _similarity_panel():
    return html.Div([
        dbc.Row([
            _col(_job_dropdown(ids.FEATURE_JOB, "feature source (scattering, contrastive, "
                                                "backbone, autoencoder or classifier)")),
            _col(dbc.Button([html.I(className="bi bi-search me-1"),
                             "Use selected tiles as query"], id=ids.USE_SELECTION, size="sm",
                            color="primary", outline=True)),
            _col(html.Small(id=ids.QUERY_INFO, className="text-muted")),
            # the first option's label names the rule the labels favour now
            _col(dbc.Select(id=ids.MATCH, value="chosen", size="sm", options=[
                {"label": "chosen from the labels", "value": "chosen"},
                {"label": "nearest to any query item", "value": "any"},
                {"label": "nearest to their mean", "value": "mean"}])),
            _col(dbc.Checkbox(id=ids.UNLABELED_ONLY, label="unlabeled only", value=True)),
        ], className="g-2 align-items-center mb-2"),
        dbc.Row([
            _col(_group("label", dbc.Select(id=ids.BATCH_LABEL, options=[]))),
            _col(dbc.RadioItems(id=ids.BATCH_SCOPE, inline=True, value="top_k", options=[
                {"label": "this page", "value": "page"}, {"label": "top k", "value": "top_k"},
                {"label": "within distance", "value": "cutoff"}])),
            _col(_group("k", dbc.Input(id=ids.TOP_K, type="number", min=1, value=20,
                                       style={"maxWidth": "6rem"}))),
            _col(_group("distance ≤", dbc.Input(id=ids.CUTOFF, type="number", min=0, max=2,
                                                step=0.01, value=0.1,
                                                style={"maxWidth": "6rem"}))),
            _col(html.Small(id=ids.BATCH_PREVIEW)),
            _col(dbc.Button("Label batch", id=ids.BATCH_APPLY, size="sm", color="primary")),
        ], className="g-2 align-items-center"),
        html.Div(id=ids.FEATURE_CHECK, className="small mt-1"),
    ], id=ids.SIMILARITY_PANEL, style=HIDDEN, className="guided-panel")


def _classifier_row():
    return _col(_job_dropdown(ids.CLASSIFIER_JOB, "classifier inference job"))


def _probability_panel():
    return html.Div([
        dbc.Row([
            _col(_group("label", dbc.Select(id=ids.PROBABILITY_LABEL, options=[]))),
            _col(html.Div([html.Small("probability ≥", className="text-muted"),
                           dcc.Slider(id=ids.THRESHOLD, min=0.5, max=1.0, step=0.01, value=0.9,
                                      marks={0.5: "0.5", 0.75: "0.75", 0.9: "0.9", 1: "1"},
                                      tooltip={"placement": "bottom"})],
                          style={"width": "280px"})),
            _col(dbc.Checkbox(id=ids.OVERWRITE, label="overwrite labeled items", value=False)),
            _col(html.Small(id=ids.PROBABILITY_PREVIEW)),
            _col(dbc.Button([html.I(className="bi bi-eye me-1"), "Show these items"],
                            id=ids.SHOW_THRESHOLD_ITEMS, size="sm", color="primary",
                            outline=True)),
            _col(dbc.Button("Apply threshold", id=ids.PROBABILITY_APPLY, size="sm",
                            color="primary")),
        ], className="g-2 align-items-center mb-2"),
        dbc.Row([_col(_group("order", dbc.Select(
            id=ids.UNCERTAINTY, value="none",
            options=[{"label": text, "value": value} for value, text in UNCERTAINTY_ORDERS])))],
            className="g-2 align-items-center"),
    ], id=ids.PROBABILITY_PANEL, style=HIDDEN, className="guided-panel")


def _review_panel():
    return html.Div([
        dbc.Row([
            _col(_group("model confidence ≥", dbc.Input(
                id=ids.MIN_CONFIDENCE, type="number", min=0, max=1, step=0.05, value=0.9,
                style={"maxWidth": "6rem"}))),
            _col(dbc.Button("Show suspected mistakes", id=ids.SHOW_MISTAKES, size="sm",
                            color="primary", outline=True)),
            _col(_group("checkpoint of", dbc.Input(id=ids.CHECKPOINT_SIZE, type="number",
                                                   min=1, max=500, value=20,
                                                   style={"maxWidth": "5rem"}))),
            _col(dbc.Button("Start checkpoint", id=ids.START_CHECKPOINT, size="sm",
                            color="primary", outline=True)),
            _col(dbc.Button("Score checkpoint", id=ids.SCORE_CHECKPOINT, size="sm",
                            color="primary")),
        ], className="g-2 align-items-center"),
        html.Div(id=ids.CHECKPOINT_RESULT, className="small mt-2"),
    ], id=ids.REVIEW_PANEL, style=HIDDEN, className="guided-panel")


def guided_controls():
    """The mode switch and the panels; the classifier job is shared by probability and review."""
    return html.Div([
        dbc.Row([
            _col(dbc.RadioItems(id=ids.MODE, value="manual", inline=True,
                                className="btn-group btn-group-sm",
                                inputClassName="btn-check",
                                labelClassName="btn btn-outline-primary",
                                labelCheckedClassName="active",
                                options=[{"label": text, "value": value}
                                         for value, text in MODES])),
            html.Div(_classifier_row(), id=f"{ids.CLASSIFIER_JOB}-row", style=HIDDEN,
                     className="col-auto"),
        ], className="g-2 align-items-center mb-2"),
        _suggestion_panel(), _similarity_panel(), _probability_panel(), _review_panel(),
    ], className="mb-2")


def efficiency_panel():
    return [html.H6("Efficiency"), html.Div(id=ids.EFFICIENCY, className="small mb-3")]
