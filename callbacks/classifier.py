"""Behaviour of the classifier page: training data, launching jobs, curves, validation
report, run comparison and the probabilities of an inference job."""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.classifier_figures import HIDDEN, SHOWN, styled
from callbacks.common import error_alert, on_refusal, read_session, thumbnail_url
from callbacks.ids import Classifier as ids
from callbacks.ids import JobsPanel
from callbacks.job_launch import field_messages, launch_job, register_model_page
from db.jobs import finished_job, list_jobs
from db.labels import list_labels
from db.lookups import find_job, training_run
from errors import DomainError
from ml.class_mapping import planned_mapping
from ml.classifier_data import check_training_set, training_set
from ml.classifier_speed import COSTS, speed_hint
from ml.init_model import model_choices
from ml.kinds.classifier import check_train_params
from ml.validation_size import too_few_warning, validation_images

if TYPE_CHECKING:
    from db.models import Job

FIELDS = {"type": ids.FIELD, "index": ALL}
FIELD_ERRORS = {"type": ids.FIELD_ERROR, "index": ALL}
PANEL_SELECTED = JobsPanel.id(JobsPanel.SELECTED, ids.SCOPE)
PANEL_POLL = JobsPanel.id(JobsPanel.POLL, ids.SCOPE)
PANEL_CHANGED = JobsPanel.id(JobsPanel.CHANGED, ids.SCOPE)
SAMPLES_PER_CLASS = 4
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


@callback(Output(ids.MODEL_HINT, "children"),
          Input({"type": ids.FIELD, "index": "model"}, "value"),
          Input({"type": ids.FIELD, "index": "image_size"}, "value"))
def show_model_cost(model, image_size):
    """What the chosen model costs per image at the chosen size (its usual one if empty)."""
    if model not in COSTS:
        return ""
    side = image_size if isinstance(image_size, int) and 0 < image_size <= 4096 else None
    return speed_hint(model, side)


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


def _validation_warning(class_counts, val_share):
    """The warning before a run when its validation set would be too small, else None."""
    if not isinstance(val_share, (int, float)) or not 0 < val_share < 1:
        return None
    warning = too_few_warning(validation_images(class_counts, val_share))
    return warning and dbc.Alert(warning, color="warning", className="small py-2 mb-1",
                                 id=ids.TRAINING_DATA + "-validation")


@callback(Output(ids.TRAINING_DATA, "children"), Input(ids.DATASET, "value"),
          Input({"type": ids.FIELD, "index": "event_id"}, "value"),
          Input({"type": ids.FIELD, "index": "val_share"}, "value"))
@on_refusal(_unusable)
def show_training_data(dataset_id, event_id, val_share):
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
        verdict, _validation_warning(training.counts(), val_share)])


# ---------------------------------------------------------------- launching

register_model_page(ids, "classifier_train", "classifier_infer", form_params, field_errors)


# ---------------------------------------------------------------- a model of any data set

@callback(Output(ids.APPLY_MODEL, "options"),
          Input(PANEL_CHANGED, "data"), Input(PANEL_POLL, "disabled"))
def list_apply_models(_changed, _idle):
    """The library's classifiers of every data set, newest first (listed again as jobs end)."""
    with read_session() as session:
        return [{"label": label, "value": job_id}
                for job_id, label in model_choices(session, "classifier_train")]


def mapping_note(mapping: dict, create: bool) -> str:
    """How a model's classes meet the data set's, said before it is applied."""
    text = f"Its classes map by name: {', '.join(mapping['mapped']) or 'none'}."
    if mapping["missing"]:
        missing = ", ".join(mapping["missing"])
        text += (f" This data set will gain {missing}." if create else
                 f" This data set has no {missing}: shown under the model's names, never "
                 "used to label (tick the box to create them).")
    return text


@callback(Output(ids.APPLY_NOTE, "children"), Output(ids.APPLY, "disabled"),
          Input(ids.APPLY_MODEL, "value"), Input(ids.APPLY_CREATE, "value"),
          Input(ids.DATASET, "value"))
@on_refusal(str, True)
def describe_apply(model_job_id, create, dataset_id):
    if not isinstance(model_job_id, int) or dataset_id is None:
        return "", True
    with read_session() as session:
        model_job = finished_job(session, model_job_id, "classifier_train", "model")
        return mapping_note(planned_mapping(session, dataset_id, model_job), bool(create)), False


@callback(Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Output(PANEL_CHANGED, "data", allow_duplicate=True),
          Input(ids.APPLY, "n_clicks"), State(ids.APPLY_MODEL, "value"),
          State(ids.APPLY_CREATE, "value"), State(ids.DATASET, "value"),
          State(PANEL_CHANGED, "data"), prevent_initial_call=True)
@on_refusal(error_alert, no_update)
def apply_model(_clicks, model_job_id, create, dataset_id, changed):
    """Classify the data set with the chosen model (creating its missing classes if asked)."""
    if model_job_id is None or dataset_id is None:
        raise PreventUpdate
    return launch_job("classifier_infer", dataset_id,
                      {"model_job_id": model_job_id, "create_missing_classes": bool(create)},
                      changed)


# ---------------------------------------------------------------- the selected run

def curve_figure(job: Job, metric: str) -> go.Figure:
    """Training and validation ``metric`` ("loss" or "accuracy") per epoch."""
    figure = go.Figure()
    rows = [row for row in job.metrics if "epoch" in row]
    for prefix, label in (("train", "training"), ("val", "validation")):
        values = [row.get(f"{prefix}_{metric}") for row in rows]
        if any(value is not None for value in values):
            figure.add_scatter(x=[row["epoch"] for row in rows], y=values,
                               mode="lines+markers", name=label)
    return styled(figure, f"job #{job.id} · {job.status}", "epoch", metric)


def curves_hint(job: Job | None) -> str:
    """What to do while there are no curves to show ('' once there are)."""
    if job is None:
        return ("No training run selected. Train on your labels with the form on the left, "
                "or click a run in the jobs list: its loss and accuracy per epoch appear here.")
    if not any("epoch" in row for row in job.metrics):
        return f"Run #{job.id} is {job.status}: its curves appear after its first epoch."
    return ""


def _ratio_cell(value) -> html.Td:
    return html.Td("–" if value is None else f"{value:.2f}", className="text-end")


def validation_report(job: Job | None):
    """The confusion matrix and per-class precision and recall of a finished run, with a
    warning when its validation set is too small to measure anything."""
    validation = (job.result or {}).get("validation") if job is not None else None
    if not validation:
        return html.Div("A finished training run shows here how it does on the images it "
                        "kept aside: confusion matrix, precision and recall per class.",
                        className="text-muted small")
    names = job.result["label_names"]
    matrix = np.array(validation["confusion_matrix"])
    heatmap = go.Figure(go.Heatmap(z=matrix.tolist(), x=names, y=names, colorscale="Blues",
                                   text=matrix.tolist(), texttemplate="%{text}",
                                   showscale=False))
    heatmap.update_yaxes(autorange="reversed")
    styled(heatmap, f"confusion matrix · accuracy {_percent(validation['accuracy'])}",
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
    warning = too_few_warning(int(sum(validation["support"])), validation["accuracy"])
    matrix_graph = dcc.Graph(figure=heatmap, config={"displayModeBar": False},
                             style={"height": "300px"})
    return html.Div([
        dbc.Alert(warning, color="warning", className="small py-2", id=ids.REPORT + "-warning")
        if warning else None,
        dbc.Row([dbc.Col(matrix_graph, md=7), dbc.Col(table, md=5)])])


@callback(Output(ids.LOSS, "figure"), Output(ids.LOSS, "style"),
          Output(ids.ACCURACY, "figure"), Output(ids.ACCURACY, "style"),
          Output(ids.CURVES_HINT, "children"),
          Output(ids.REPORT, "children"), Output(ids.INFER, "disabled"),
          Input(PANEL_SELECTED, "data"), Input(PANEL_POLL, "n_intervals"))
def show_selected_job(job_id, _tick):
    with read_session() as session:
        job = find_job(session, job_id)
        model_job = training_run(session, job, "classifier_train", "classifier_infer")
        can_infer = model_job is not None and model_job is job and job.status == "succeeded"
        hint = curves_hint(model_job)
        if hint:
            curves = (no_update, HIDDEN) * 2
        else:
            curves = (curve_figure(model_job, "loss"), SHOWN,
                      curve_figure(model_job, "accuracy"), SHOWN)
        return (*curves, hint, validation_report(model_job), not can_infer)


# ---------------------------------------------------------------- comparison

def _finished(session, dataset_id, kind: str) -> list[Job]:
    """The data set's succeeded jobs of ``kind``, newest first."""
    return list_jobs(session, dataset_id, kind, statuses=("succeeded",))


def followed(chosen: list[int], finished: list[int], known: list[int] | None) -> list[int]:
    """The chosen jobs still finished, plus every job finished since ``known`` (None: the
    page has just opened), newest first: panels follow new results by themselves."""
    new = [job_id for job_id in finished if known is not None and job_id not in known]
    kept = [job_id for job_id in chosen or [] if job_id in finished and job_id not in new]
    return new + kept


@callback(Output(ids.COMPARE_RUNS, "options"), Output(ids.COMPARE_RUNS, "value"),
          Output(ids.INFERENCE, "options"), Output(ids.INFERENCE, "value"),
          Output(ids.KNOWN_FINISHED, "data"),
          Input(ids.DATASET, "value"), Input(PANEL_CHANGED, "data"),
          Input(PANEL_POLL, "n_intervals"), Input(PANEL_POLL, "disabled"),
          State(ids.COMPARE_RUNS, "value"), State(ids.INFERENCE, "value"),
          State(ids.KNOWN_FINISHED, "data"))
def list_finished_jobs(dataset_id, _changed, _tick, _idle, compared, inference, known):
    """The finished runs and inferences; a run that finishes joins the comparison and a
    finished inference is shown at once, while the user's own choices are kept."""
    if dataset_id is None:
        return [], [], [], None, None
    with read_session() as session:
        runs = _finished(session, dataset_id, "classifier_train")
        inferences = _finished(session, dataset_id, "classifier_infer")
        run_options = [{"label": f"#{job.id} {job.params['model']} · "
                                 f"{_percent(job.result.get('val_accuracy'))}", "value": job.id}
                       for job in runs]
        inference_options = [{"label": f"#{job.id} · model #{job.params['model_job_id']} · "
                                       f"{job.result.get('items', 0):,} items", "value": job.id}
                             for job in inferences]
    finished = {"dataset_id": dataset_id, "runs": [job.id for job in runs],
                "inferences": [job.id for job in inferences]}
    if known == finished and ctx.triggered_id != ids.DATASET:
        raise PreventUpdate  # a poll that found nothing new
    if (known or {}).get("dataset_id") != dataset_id:
        known = None  # another data set: start from its newest results
    compared = followed(compared, finished["runs"], (known or {}).get("runs"))
    if not compared:
        compared = finished["runs"][:2]  # the two newest until the user picks others
    inference = next(iter(followed([inference] if inference else [], finished["inferences"],
                                   (known or {}).get("inferences"))
                          or finished["inferences"]), None)
    return run_options, compared, inference_options, inference, finished


@callback(Output(ids.COMPARE_TABLE, "children"), Output(ids.COMPARE_PLOT, "figure"),
          Output(ids.COMPARE_PLOT, "style"), Input(ids.COMPARE_RUNS, "value"))
def compare_runs(job_ids):
    with read_session() as session:
        jobs = [job for job in (find_job(session, job_id) for job_id in job_ids or []) if job]
        if not jobs:
            return (html.Div("Finished training runs are compared here, side by side: each "
                             "run that finishes is added.", className="text-muted small"),
                    no_update, HIDDEN)
        figure = go.Figure()
        for job in jobs:
            figure.add_scatter(x=[row["epoch"] for row in job.metrics],
                               y=[row.get("val_accuracy") for row in job.metrics],
                               mode="lines+markers", name=f"#{job.id} {job.params['model']}")
        header = html.Thead(html.Tr([html.Th("")] + [html.Th(f"#{job.id}") for job in jobs]))
        body = html.Tbody([html.Tr([html.Td(label, className="text-muted")] +
                                   [html.Td(str(value(job))) for job in jobs])
                           for label, value in COMPARED])
    styled(figure, "validation accuracy per epoch", "epoch", "accuracy")
    figure.update_yaxes(range=[0, 1.02])
    return (dbc.Table([header, body], size="sm", className="small mb-2"), figure,
            {"height": "260px"})


# The probabilities of an inference job have their own module; importing this page's
# module registers its callbacks too.
import_module("callbacks.classifier_probabilities")
