"""Following a live data set on the label page. Sorted newest first with Follow on, page 1
is drawn again when items arrive (or, in the suggestion review, when their feature rows
do, so their suggestions show); never while labels typed are still being saved. A live
data set's arrivals per minute over the last hour are plotted beside the gallery, with the
classes suggested for them when the suggestion review has a feature job."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, State, callback
from dash.exceptions import PreventUpdate
from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from callbacks.common import read_session
from callbacks.ids import Label as ids
from db.labels import list_labels
from db.models import Item, utcnow
from db.store import get_dataset, newest_item
from errors import DomainError
from ml import rankings
from ml.features import feature_job, feature_version
from services import current_services

WINDOW_MINUTES = 60


def _suggestion_job(guided) -> int | None:
    """The feature job of the suggestion review, when the gallery shows one."""
    return guided["job_id"] if guided and guided.get("kind") == "suggestions" else None


def _saving(sync) -> bool:
    """Whether the keyboard script (assets/label_keys.js) still has labels to save: its
    toolbar text says "saving N…" until the last one is written."""
    return str(sync or "").startswith("saving")


@callback(Output(ids.FOLLOW_BOX, "style"), Input(ids.SORT, "value"))
def show_follow(order):
    return {} if order == "newest" else {"display": "none"}


@callback(Output(ids.ARRIVALS_POLL, "disabled"), Output(ids.ARRIVALS_PLOT_POLL, "disabled"),
          Output(ids.ARRIVALS_PANEL, "style"),
          Input(ids.DATASET, "value"), Input(ids.SORT, "value"), Input(ids.FOLLOW, "value"))
def poll_when_needed(dataset_id, order, follow):
    """Poll while following; while the data set is live, its arrivals panel too."""
    if dataset_id is None:
        return True, True, {"display": "none"}
    with read_session() as session:
        live = get_dataset(session, dataset_id).live
    following = order == "newest" and bool(follow)
    return not following, not live, {} if live else {"display": "none"}


@callback(Output(ids.ARRIVALS_MARK, "data"),
          Input(ids.ARRIVALS_POLL, "n_intervals"), Input(ids.DATASET, "value"),
          State(ids.GUIDED_ORDER, "data"), State(ids.ARRIVALS_MARK, "data"))
def watch_arrivals(_tick, dataset_id, guided, mark):
    """What has arrived: item count and newest sort key (index look-ups) and the
    suggestion job's rows. Unchanged, nothing is updated."""
    if dataset_id is None:
        raise PreventUpdate
    job_id = _suggestion_job(guided)
    with read_session() as session:
        items = get_dataset(session, dataset_id).item_count
        newest = newest_item(session, dataset_id)
        rows = _feature_rows(session, dataset_id, job_id)
    seen = {"dataset": dataset_id, "job": job_id, "items": items, "newest": newest,
            "rows": rows}
    if mark and all(mark.get(key) == value for key, value in seen.items()):
        raise PreventUpdate
    # another data set or suggestion job is a new view (drawn by its own callbacks)
    same_view = bool(mark) and (mark["dataset"], mark["job"]) == (dataset_id, job_id)
    return {**seen, "arrived": same_view}


def _feature_rows(session: Session, dataset_id: int, job_id: int | None) -> list | None:
    """The suggestion job's version (how many chunks of rows it holds), or None."""
    if job_id is None:
        return None
    try:
        return list(feature_version(feature_job(session, job_id, dataset_id)))
    except DomainError:  # deleted meanwhile: the suggestion panel says so
        return None


@callback(Output(ids.FOLLOW_REFRESH, "data"), Input(ids.ARRIVALS_MARK, "data"),
          State(ids.SORT, "value"), State(ids.FOLLOW, "value"), State(ids.PAGE, "value"),
          State(ids.SYNC, "children"), State(ids.FOLLOW_REFRESH, "data"),
          prevent_initial_call=True)
def follow_arrivals(mark, order, follow, page, sync, refreshed):
    """Draw page 1 again when something arrived. A label still being saved holds it off:
    the keyboard script redraws the page itself once the labels are written."""
    following = order == "newest" and follow and (page or 1) == 1
    if not (mark and mark.get("arrived")) or not following or _saving(sync):
        raise PreventUpdate
    return (refreshed or 0) + 1


@callback(Output(ids.ARRIVALS_GRAPH, "figure"), Output(ids.ARRIVALS_NOTE, "children"),
          Input(ids.ARRIVALS_PLOT_POLL, "n_intervals"), Input(ids.ARRIVALS_PANEL, "style"),
          Input(ids.GUIDED_ORDER, "data"), State(ids.DATASET, "value"))
def plot_arrivals(_tick, shown, guided, dataset_id):
    if dataset_id is None or shown != {}:  # not a live data set
        raise PreventUpdate
    job_id = _suggestion_job(guided)
    now = utcnow()
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=WINDOW_MINUTES - 1)
    with read_session() as session:
        item_ids, minute = arrivals_since(session, dataset_id, start)
        count = len(item_ids)
        classes, note = [], f"{count:,} arrival{'s' * (count != 1)} in the last hour"
        if job_id is not None:
            classes, note = _suggested_per_minute(session, dataset_id, job_id, item_ids,
                                                  minute, note)
    times = [start + timedelta(minutes=m) for m in range(WINDOW_MINUTES)]
    return _figure(times, np.bincount(minute, minlength=WINDOW_MINUTES), classes), note


# Whole minutes from :start to an item's arrival, worked out by the database. Plain SQL: an
# hour of arrivals at 20 a second (72,000 rows) took 0.5 s to read through select() and
# 0.08 s as text, measured on SQLite; the page reads them on every poll that saw arrivals.
_MINUTES_AFTER = {
    "postgresql": "CAST(floor(extract(epoch FROM arrived_at - :start) / 60) AS INTEGER)",
    # whole seconds (exact; julianday's days lose the last digits) over integer division
    "sqlite": "(CAST(strftime('%s', arrived_at) AS INTEGER)"
              " - CAST(strftime('%s', :start) AS INTEGER)) / 60",
}


def arrivals_since(session: Session, dataset_id: int, start) -> tuple[np.ndarray, np.ndarray]:
    """(item ids, minute after ``start``) of the items that arrived since ``start``."""
    minutes = _MINUTES_AFTER[session.get_bind().dialect.name]
    query = text(f"SELECT id, {minutes} FROM items "
                 "WHERE dataset_id = :dataset_id AND arrived_at >= :start").bindparams(
        bindparam("start", type_=Item.arrived_at.type))
    rows = session.execute(query, {"dataset_id": dataset_id, "start": start}).all()
    item_ids = np.fromiter((row[0] for row in rows), np.int64, len(rows))
    minute = np.fromiter((row[1] for row in rows), np.int64, len(rows))
    return item_ids, np.clip(minute, 0, WINDOW_MINUTES - 1)


def _suggested_per_minute(session: Session, dataset_id: int, job_id: int,
                          item_ids: np.ndarray, minute: np.ndarray, note: str):
    """[(name, colour, counts per minute)] of the classes the suggestion model (the one
    the gallery uses, cached until the labels or the rows change) gives the arrivals still
    unlabeled; and the note under the plot."""
    try:
        model = rankings.suggestion_model(session, current_services().feature_indexes,
                                          dataset_id, job_id)
    except DomainError as error:
        return [], f"{note}; no suggestions: {error}"
    found, label_ids, _ = model.suggestions_of(item_ids)
    classes = [(label.name, label.color,
                np.bincount(minute[found][label_ids == label.id], minlength=WINDOW_MINUTES))
               for label in list_labels(session, dataset_id)]
    return classes, (f"{note}; {int(found.sum()):,} of them unlabeled with a suggestion "
                     f"(job {job_id})")


def _figure(times, arrivals: np.ndarray, classes) -> go.Figure:
    figure = go.Figure(go.Scatter(x=times, y=arrivals, name="arrivals", mode="lines",
                                  line={"color": "#555", "width": 2}))
    for name, colour, counts in classes:
        figure.add_bar(x=times, y=counts, name=f"suggested {name}", marker_color=colour)
    figure.update_layout(barmode="stack", height=180, margin={"l": 30, "r": 5, "t": 5, "b": 25},
                         showlegend=bool(classes), legend={"orientation": "h", "y": -0.3},
                         yaxis={"title": None, "rangemode": "tozero"},
                         xaxis={"title": None}, plot_bgcolor="white")
    return figure
