"""Behaviour of the classifier page: training data, launching jobs, curves, validation
report, run comparison and the probabilities of an inference job."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import ALL, Input, Output, State, callback, dcc, html, no_update

from callbacks.common import on_refusal, read_session, thumbnail_url
from callbacks.ids import Classifier as ids
from callbacks.ids import JobsPanel
from callbacks.job_launch import field_messages, register_model_page
from db.jobs import list_jobs
from db.labels import list_labels
from db.lookups import current_label_class, find_job, training_run
from errors import DomainError
from ml.classifier_data import check_training_set, training_set
from ml.kinds.classifier import check_train_params
from ml.features import load_probabilities

if TYPE_CHECKING:
    from db.models import Job

FIELDS = {"type": ids.FIELD, "index": ALL}
FIELD_ERRORS = {"type": ids.FIELD_ERROR, "index": ALL}
PANEL_SELECTED = JobsPanel.id(JobsPanel.SELECTED, ids.SCOPE)
PANEL_POLL = JobsPanel.id(JobsPanel.POLL, ids.SCOPE)
PANEL_CHANGED = JobsPanel.id(JobsPanel.CHANGED, ids.SCOPE)
SAMPLES_PER_CLASS = 4
CONFIDENCE_BINS = 20
# Rows of the comparison table: (label, value of a finished classifier_train job).
COMPARED = (
    ("model", lambda job: job.params["model"]),
    ("image size", lambda job: "×".join(map(str, job.params["image_size"]))),
    ("epochs run", lambda job: len(job.metrics)),
    ("batch size", lambda job: job.params["batch_size"]),
    ("learning rate", lambda job: f"{job.params['learning_rate']:g}"),
    ("optimizer", lambda job: job.params["optimizer"]),
    ("balance", lambda job: job.params["balance"]),
    ("images", lambda job: job.result.get("images")),
    ("labels up to event", lambda job: job.result.get("trained_on_event_id")),
    ("best epoch", lambda job: job.result.get("best_epoch")),
    ("validation accuracy", lambda job: _percent(job.result.get("val_accuracy"))),
)


def _percent(value) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


# ---------------------------------------------------------------- form

def form_params(values: list, field_ids: list[dict]) -> dict[str, Any]:
    """The job parameters the form describes; empty optional fields are left out."""
    form = {field_id["index"]: value for field_id, value in zip(field_ids, values)}
    return {name: value for name, value in form.items()
            if not (name in ("image_size", "weights_path") and value in (None, ""))}


def field_errors(error: DomainError | None, field_ids: list[dict], _values: list) -> list[str]:
    return field_messages(error, field_ids)


@callback(Output(FIELD_ERRORS, "children"), Input(FIELDS, "value"), State(FIELDS, "id"))
def check_fields(values, field_ids):
    try:
        check_train_params(form_params(values, field_ids))
    except DomainError as error:
        return field_messages(error, field_ids)
    return field_messages(None, field_ids)


# ---------------------------------------------------------------- training data

def _class_row(name: str, color: str, count: int, item_ids: list[int]):
    thumbs = [html.Img(src=thumbnail_url(item_id, 48, True, (1, 99), "gray"),
                       title=f"item {item_id}", className="me-1 rounded",
                       style={"width": "48px", "height": "48px"}) for item_id in item_ids]
    return html.Tr([
        html.Td(html.Span(name, className="badge", style={"backgroundColor": color})),
        html.Td(f"{count:,}", className="text-end"), html.Td(thumbs)])


def _unusable(error: DomainError) -> dbc.Alert:
    return dbc.Alert(str(error), color="warning", className="small py-2")


@callback(Output(ids.TRAINING_DATA, "children"), Input(ids.DATASET, "value"),
          Input({"type": ids.FIELD, "index": "event_id"}, "value"))
@on_refusal(_unusable)
def show_training_data(dataset_id, event_id):
    if dataset_id is None:
        return html.Div("Choose a data set.", className="text-muted small")
    with read_session() as session:
        training = training_set(session, dataset_id, int(event_id or 0))
        colors = {label.id: label.color
                  for label in list_labels(session, dataset_id, include_archived=True)}
    samples: dict[int, list[int]] = {label_id: [] for label_id in training.label_ids}
    for item_id, label_id in training.labels.items():
        if len(samples[label_id]) < SAMPLES_PER_CLASS:
            samples[label_id].append(item_id)
    rows = [_class_row(name, colors[label_id], count, samples[label_id])
            for label_id, name, count in zip(training.label_ids, training.label_names,
                                             training.counts())]
    since = "the current labels" if not event_id else f"labels as of event {event_id}"
    try:
        check_training_set(training)
        verdict = None
    except DomainError as error:
        verdict = dbc.Alert(str(error), color="warning", className="small py-2 mb-0")
    return html.Div([
        html.Div(f"Trains on {since}: {len(training.labels):,} labeled images",
                 className="small fw-semibold mb-1"),
        dbc.Table(html.Tbody(rows), size="sm", className="small mb-1 align-middle"),
        verdict])


# ---------------------------------------------------------------- launching

register_model_page(ids, "classifier_train", "classifier_infer", form_params, field_errors)


# ---------------------------------------------------------------- the selected run

def _styled(figure: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    figure.update_layout(margin=dict(l=50, r=10, t=35, b=40), title=dict(text=title, x=0.01),
                         xaxis_title=x_title, yaxis_title=y_title, plot_bgcolor="white",
                         legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    figure.update_xaxes(gridcolor="#eee")
    figure.update_yaxes(gridcolor="#eee")
    return figure


def curve_figure(job: Job | None, metric: str) -> go.Figure:
    """Training and validation ``metric`` ("loss" or "accuracy") per epoch."""
    figure = go.Figure()
    rows = [row for row in (job.metrics if job is not None else []) if "epoch" in row]
    for prefix, label in (("train", "training"), ("val", "validation")):
        values = [row.get(f"{prefix}_{metric}") for row in rows]
        if any(value is not None for value in values):
            figure.add_scatter(x=[row["epoch"] for row in rows], y=values,
                               mode="lines+markers", name=label)
    title = f"job #{job.id} · {job.status}" if job is not None else "select a training job"
    return _styled(figure, title, "epoch", metric)


def _ratio_cell(value) -> html.Td:
    return html.Td("–" if value is None else f"{value:.2f}", className="text-end")


def validation_report(job: Job | None):
    """The confusion matrix and per-class precision and recall of a finished run."""
    validation = (job.result or {}).get("validation") if job is not None else None
    if not validation:
        return html.Div("A finished training run shows its validation results here.",
                        className="text-muted small")
    names = job.result["label_names"]
    matrix = np.array(validation["confusion_matrix"])
    heatmap = go.Figure(go.Heatmap(z=matrix.tolist(), x=names, y=names, colorscale="Blues",
                                   text=matrix.tolist(), texttemplate="%{text}",
                                   showscale=False))
    heatmap.update_yaxes(autorange="reversed")
    _styled(heatmap, f"confusion matrix · accuracy {_percent(validation['accuracy'])}",
            "predicted", "true")
    table = dbc.Table([
        html.Thead(html.Tr([html.Th("class"), html.Th("precision", className="text-end"),
                            html.Th("recall", className="text-end"),
                            html.Th("images", className="text-end")])),
        html.Tbody([html.Tr([html.Td(name), _ratio_cell(precision), _ratio_cell(recall),
                             html.Td(support, className="text-end")])
                    for name, precision, recall, support in zip(
                        names, validation["precision"], validation["recall"],
                        validation["support"])]),
    ], size="sm", className="small")
    matrix_graph = dcc.Graph(figure=heatmap, config={"displayModeBar": False},
                             style={"height": "300px"})
    return dbc.Row([dbc.Col(matrix_graph, md=7), dbc.Col(table, md=5)])


@callback(Output(ids.LOSS, "figure"), Output(ids.ACCURACY, "figure"),
          Output(ids.REPORT, "children"), Output(ids.INFER, "disabled"),
          Input(PANEL_SELECTED, "data"), Input(PANEL_POLL, "n_intervals"))
def show_selected_job(job_id, _tick):
    with read_session() as session:
        job = find_job(session, job_id)
        model_job = training_run(session, job, "classifier_train", "classifier_infer")
        can_infer = model_job is not None and model_job is job and job.status == "succeeded"
        return (curve_figure(model_job, "loss"), curve_figure(model_job, "accuracy"),
                validation_report(model_job), not can_infer)


# ---------------------------------------------------------------- comparison

def _finished(session, dataset_id, kind: str) -> list[Job]:
    """The data set's succeeded jobs of ``kind``, newest first."""
    return [job for job in list_jobs(session, dataset_id, kind) if job.status == "succeeded"]


@callback(Output(ids.COMPARE_RUNS, "options"), Output(ids.COMPARE_RUNS, "value"),
          Output(ids.INFERENCE, "options"), Output(ids.INFERENCE, "value"),
          Input(ids.DATASET, "value"), Input(PANEL_CHANGED, "data"),
          Input(PANEL_POLL, "disabled"), State(ids.COMPARE_RUNS, "value"),
          State(ids.INFERENCE, "value"))
def list_finished_jobs(dataset_id, _changed, _idle, compared, inference):
    if dataset_id is None:
        return [], [], [], None
    with read_session() as session:
        runs = _finished(session, dataset_id, "classifier_train")
        inferences = _finished(session, dataset_id, "classifier_infer")
        run_options = [{"label": f"#{job.id} {job.params['model']} · "
                                 f"{_percent(job.result.get('val_accuracy'))}", "value": job.id}
                       for job in runs]
        inference_options = [{"label": f"#{job.id} · model #{job.params['model_job_id']} · "
                                       f"{job.result.get('items', 0):,} items", "value": job.id}
                             for job in inferences]
    listed = {job.id for job in runs}
    kept = [job_id for job_id in compared or [] if job_id in listed]
    # The two newest runs are compared until the user picks others.
    compared = kept or [job.id for job in runs[:2]]
    inference_ids = [job.id for job in inferences]
    inference = inference if inference in inference_ids else next(iter(inference_ids), None)
    return run_options, compared, inference_options, inference


@callback(Output(ids.COMPARE_TABLE, "children"), Output(ids.COMPARE_PLOT, "figure"),
          Input(ids.COMPARE_RUNS, "value"))
def compare_runs(job_ids):
    with read_session() as session:
        jobs = [job for job in (find_job(session, job_id) for job_id in job_ids or []) if job]
        figure = go.Figure()
        for job in jobs:
            figure.add_scatter(x=[row["epoch"] for row in job.metrics],
                               y=[row.get("val_accuracy") for row in job.metrics],
                               mode="lines+markers", name=f"#{job.id} {job.params['model']}")
        header = html.Thead(html.Tr([html.Th("")] + [html.Th(f"#{job.id}") for job in jobs]))
        body = html.Tbody([html.Tr([html.Td(label, className="text-muted")] +
                                   [html.Td(str(value(job))) for job in jobs])
                           for label, value in COMPARED])
    _styled(figure, "validation accuracy per epoch", "epoch", "accuracy")
    figure.update_yaxes(range=[0, 1.02])
    if not jobs:
        return html.Div("Finished training runs can be compared here.",
                        className="text-muted small"), figure
    return dbc.Table([header, body], size="sm", className="small mb-2"), figure


# ---------------------------------------------------------------- probabilities

def _inference(session, job_id):
    """(job, item ids, probabilities, label names, label colours) of an inference job."""
    job = find_job(session, job_id)
    item_ids, probabilities, label_ids = load_probabilities(job)
    labels = {label.id: label for label in list_labels(session, job.dataset_id,
                                                       include_archived=True)}
    return (job, item_ids, probabilities, [labels[i].name for i in label_ids],
            [labels[i].color for i in label_ids])


@callback(Output(ids.CONFIDENCE, "figure"), Output(ids.ITEM, "value"),
          Input(ids.INFERENCE, "value"), State(ids.ITEM, "value"))
def show_confidence(job_id, item_id):
    figure = go.Figure()
    if job_id is None:
        return _styled(figure, "run an inference job", "top-class probability", "items"), \
            no_update
    with read_session() as session:
        _job, item_ids, probabilities, names, colors = _inference(session, job_id)
    predicted, confidence = probabilities.argmax(1), probabilities.max(1)
    edges = np.linspace(0, 1, CONFIDENCE_BINS + 1)
    for column, (name, color) in enumerate(zip(names, colors)):
        counts, _ = np.histogram(confidence[predicted == column], bins=edges)
        figure.add_bar(x=((edges[:-1] + edges[1:]) / 2).tolist(), y=counts.tolist(),
                       width=1 / CONFIDENCE_BINS,
                       name=name, marker_color=color)
    figure.update_layout(barmode="stack")
    _styled(figure, f"top-class confidence of {len(item_ids):,} items",
            "top-class probability", "items")
    if item_id is None or item_id not in set(item_ids.tolist()):
        item_id = int(item_ids[0]) if len(item_ids) else None
    return figure, item_id


@callback(Output(ids.PROBABILITIES, "figure"), Output(ids.ITEM_VIEW, "children"),
          Input(ids.ITEM, "value"), State(ids.INFERENCE, "value"))
def show_item_probabilities(item_id, job_id):
    figure = go.Figure()
    if job_id is None or item_id is None:
        return _styled(figure, "choose an item", "class", "probability"), None
    with read_session() as session:
        _job, item_ids, probabilities, names, colors = _inference(session, job_id)
        current = current_label_class(session, int(item_id))
        labeled = f" · labeled {current.name}" if current is not None else " · unlabeled"
    rows = np.flatnonzero(item_ids == int(item_id))
    if not len(rows):
        return (_styled(figure, f"item {item_id} is not in this inference", "class",
                        "probability"), None)
    values = probabilities[rows[0]]
    figure.add_bar(x=names, y=values.tolist(), marker_color=colors,
                   text=[f"{v:.2f}" for v in values],
                   textposition="outside")
    figure.update_yaxes(range=[0, 1.1])
    _styled(figure, f"item {item_id}: {names[int(values.argmax())]}{labeled}", "class",
            "probability")
    image = html.Img(src=thumbnail_url(int(item_id), 96, True, (1, 99), "gray"),
                     title=f"item {item_id}", className="rounded",
                     style={"width": "96px", "height": "96px"})
    return figure, image
