"""The classifier page's class probabilities: the confidence histogram of an inference
job, images to click (the least confident, or a clicked bar's) or to find by file name, and
the chosen image's probabilities. Registered by importing callbacks/classifier.py."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from dash import ALL, Input, Output, State, callback, ctx, html, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy import func, select

from callbacks.classifier_figures import HIDDEN, SHOWN, styled
from callbacks.common import read_session, thumbnail_url
from callbacks.ids import Classifier as ids
from db.labels import list_labels
from db.lookups import current_label_class, find_item, find_job
from db.models import Item
from ml.class_mapping import probability_columns
from ml.features import load_probabilities

CONFIDENCE_BINS = 20
NO_CLASS_COLOR = "#9E9E9E"  # a model's class that the data set lacks
STRIP_IMAGES = 12  # images to click under the confidence histogram
NAME_MATCHES = 1000  # items whose name matches, looked through for one of the inference


def _inference(session, job_id):
    """(job, item ids, probabilities, class names, class colours) of an inference job; a
    column whose class the data set lacks (a model of another data set) shows under the
    model's class name, in grey."""
    job = find_job(session, job_id)
    item_ids, probabilities, _ = load_probabilities(job)
    columns = probability_columns(job)
    labels = {label.id: label for label in list_labels(session, job.dataset_id,
                                                       include_archived=True)}
    shown = [labels.get(label_id) for label_id in columns.label_ids]
    return (job, item_ids, probabilities,
            [label.name if label else f"{name} (model only)"
             for label, name in zip(shown, columns.names)],
            [label.color if label else NO_CLASS_COLOR for label in shown])


NO_INFERENCE = ("No inference yet. Select a finished training run in the jobs list and press "
                "“Classify the whole data set with this model”: every image's class "
                "probabilities then appear here, and you pick an image by clicking it.")


@callback(Output(ids.CONFIDENCE, "figure"), Output(ids.CONFIDENCE, "style"),
          Output(ids.PROBABILITY_AREA, "style"), Output(ids.PROBABILITY_HINT, "children"),
          Input(ids.INFERENCE, "value"))
def show_confidence(job_id):
    if job_id is None:
        return no_update, HIDDEN, HIDDEN, NO_INFERENCE
    with read_session() as session:
        _job, item_ids, probabilities, names, colors = _inference(session, job_id)
    predicted, confidence = probabilities.argmax(1), probabilities.max(1)
    edges = np.linspace(0, 1, CONFIDENCE_BINS + 1)
    figure = go.Figure()
    for column, (name, color) in enumerate(zip(names, colors)):
        counts, _ = np.histogram(confidence[predicted == column], bins=edges)
        figure.add_bar(x=((edges[:-1] + edges[1:]) / 2).tolist(), y=counts.tolist(),
                       width=1 / CONFIDENCE_BINS, name=name, marker_color=color)
    figure.update_layout(barmode="stack", clickmode="event")
    styled(figure, f"top-class confidence of {len(item_ids):,} items · click a bar to see "
           "its images", "top-class probability", "items")
    return figure, SHOWN, None, None


def strip_rows(probabilities: np.ndarray, bar: dict | None) -> np.ndarray:
    """Rows of the inference to show as images: the least confident first, or those of a
    clicked histogram bar (its class, its confidence bin), least confident first."""
    predicted, confidence = probabilities.argmax(1), probabilities.max(1)
    rows = np.arange(len(confidence))
    if bar is not None:
        half_bin = 0.5 / CONFIDENCE_BINS
        rows = rows[(predicted == bar["curveNumber"])
                    & (np.abs(confidence - bar["x"]) <= half_bin + 1e-9)]
    return rows[np.argsort(confidence[rows], kind="stable")][:STRIP_IMAGES]


def _strip_item(item_id: int, name: str, label: str, confidence: float):
    return html.Button([
        html.Img(src=thumbnail_url(item_id, 64, True, (1, 99), "gray"), alt=name,
                 className="rounded d-block", style={"width": "64px", "height": "64px"}),
        html.Div(f"{label} {confidence:.2f}", className="small"),
    ], id={"type": ids.STRIP_ITEM, "index": item_id}, title=name, n_clicks=0,
        className="btn btn-light p-1 classifier-strip-item")


@callback(Output(ids.STRIP, "children"), Output(ids.STRIP_TITLE, "children"),
          Input(ids.INFERENCE, "value"), Input(ids.CONFIDENCE, "clickData"))
def show_strip(job_id, click):
    if job_id is None:
        return [], ""
    bar = (click or {}).get("points", [None])[0] if ctx.triggered_id == ids.CONFIDENCE else None
    with read_session() as session:
        _job, item_ids, probabilities, names, _colors = _inference(session, job_id)
        if bar is not None and not 0 <= bar.get("curveNumber", -1) < len(names):
            bar = None
        rows = strip_rows(probabilities, bar)
        files = {item_id: _file_name(session, item_id) for item_id in item_ids[rows].tolist()}
    title = ("The least confident images: click one to see its probabilities"
             if bar is None else
             f"Predicted {names[bar['curveNumber']]} with top-class probability near "
             f"{bar['x']:.2f}, least confident first: click one")
    strip = [_strip_item(int(item_ids[row]), files[int(item_ids[row])],
                         names[int(probabilities[row].argmax())], float(probabilities[row].max()))
             for row in rows]
    return strip, title


def _file_name(session, item_id: int) -> str:
    item = find_item(session, item_id)
    return item.uri if item is not None else f"item {item_id}"


@callback(Output(ids.ITEM, "data"), Output(ids.ITEM_NAME_NOTE, "children"),
          Input(ids.INFERENCE, "value"),
          Input({"type": ids.STRIP_ITEM, "index": ALL}, "n_clicks"),
          Input(ids.ITEM_NAME, "value"))
def choose_item(job_id, _clicks, name):
    """The image to show: the one clicked, or the first of the inference whose file name
    contains what was typed; the least confident one when the inference changes."""
    if job_id is None:
        return None, ""
    trigger = ctx.triggered_id
    if isinstance(trigger, dict):
        if not ctx.triggered[0]["value"]:
            raise PreventUpdate  # the strip was re-drawn, not clicked
        return trigger["index"], ""
    with read_session() as session:
        job, item_ids, probabilities, _names, _colors = _inference(session, job_id)
        if trigger == ids.ITEM_NAME and (name or "").strip():
            found = items_named(session, job.dataset_id, name.strip()[:200], item_ids)
            if found is None:
                return no_update, f"No image of this inference has “{name.strip()}” in its name."
            return found, ""
    least_confident = strip_rows(probabilities, None)
    return (int(item_ids[least_confident[0]]) if len(least_confident) else None), ""


def items_named(session, dataset_id: int, part: str, item_ids: np.ndarray) -> int | None:
    """The first item (in file order) of ``item_ids`` whose name contains ``part``."""
    found = set(item_ids.tolist())
    matches = session.scalars(
        select(Item.id).where(Item.dataset_id == dataset_id,
                              func.lower(Item.uri).contains(part.lower(), autoescape=True))
        .order_by(Item.sort_key).limit(NAME_MATCHES))
    return next((item_id for item_id in matches if item_id in found), None)


@callback(Output(ids.PROBABILITIES, "figure"), Output(ids.PROBABILITIES, "style"),
          Output(ids.ITEM_VIEW, "children"),
          Input(ids.ITEM, "data"), State(ids.INFERENCE, "value"))
def show_item_probabilities(item_id, job_id):
    if job_id is None or item_id is None:
        return no_update, HIDDEN, None
    with read_session() as session:
        _job, item_ids, probabilities, names, colors = _inference(session, job_id)
        current = current_label_class(session, int(item_id))
        labeled = f"labeled {current.name}" if current is not None else "unlabeled"
        name = _file_name(session, int(item_id))
    rows = np.flatnonzero(item_ids == int(item_id))
    if not len(rows):
        return no_update, HIDDEN, html.Div(f"{name} is not in this inference.",
                                           className="text-muted small")
    values = probabilities[rows[0]]
    figure = go.Figure()
    figure.add_bar(x=names, y=values.tolist(), marker_color=colors,
                   text=[f"{v:.2f}" for v in values], textposition="outside")
    figure.update_yaxes(range=[0, 1.1])
    styled(figure, f"predicted {names[int(values.argmax())]} · {labeled}", "class",
           "probability")
    image = html.Figure([
        html.Img(src=thumbnail_url(int(item_id), 128, True, (1, 99), "gray"), alt=name,
                 className="rounded", style={"width": "128px", "height": "128px"}),
        html.Figcaption(name, className="small text-muted text-break")], className="mb-0")
    return figure, {"height": "260px"}, image
