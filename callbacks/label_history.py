"""Behaviour of the labeling page's progress bar, history, export and import."""
from __future__ import annotations

import base64
import binascii

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, html, no_update
from dash.exceptions import PreventUpdate

from auth.ownership import check_may_undo
from callbacks.common import (clicked_index, error_alert, on_refusal, read_session,
                              tagger_or_default, write_session)
from callbacks.ids import Label as ids
from data.label_import import import_labels_csv
from db.labels import list_labels
from db.store import label_counts, list_events
from db.undo import undo_event
from errors import DomainError

HISTORY_LENGTH = 30


def progress_bar(counts, labels):
    """A stacked bar per class (share of the whole data set) and labeled / total."""
    total = max(counts.total, 1)
    bars = [dbc.Progress(value=100 * counts.per_label.get(label.id, 0) / total, bar=True,
                         style={"backgroundColor": label.color},
                         label=f"{counts.per_label.get(label.id, 0):,}")
            for label in labels if counts.per_label.get(label.id)]
    legend = [html.Div([html.Span(className="swatch", style={"background": label.color}),
                        f"{label.name}: {counts.per_label.get(label.id, 0):,} "
                        f"({100 * counts.per_label.get(label.id, 0) / total:.1f} %)"])
              for label in labels]
    share = 100 * counts.labeled / total
    return [dbc.Progress(bars, style={"height": "18px"}) if bars else dbc.Progress(value=0),
            html.Div(f"{counts.labeled:,} / {counts.total:,} labeled ({share:.1f} %)",
                     className="small mt-1", id="label-progress-text"),
            html.Div(legend, className="small text-muted")]


def _event_row(event):
    when = event.created_at.strftime("%H:%M:%S")
    return html.Div([
        html.Span(f"#{event.id} {event.tagger} {event.method} · {event.n_tags:,} · {when}",
                  style={"flex": 1}),
        dbc.Button("view", id={"type": ids.HISTORY_VIEW, "index": event.id}, color="link",
                   size="sm", className="p-0 me-1", title="show the labels as of this event"),
        dbc.Button("undo", id={"type": ids.HISTORY_UNDO, "index": event.id}, color="link",
                   size="sm", className="p-0", title="undo this event"),
    ], className="event-row")


@callback(Output(ids.PROGRESS, "children"), Output(ids.HISTORY, "children"),
          Input(ids.DATASET, "value"), Input(ids.REVISION, "data"))
def show_progress_and_history(dataset_id, _revision):
    """The progress bar and the newest events, drawn again after every event."""
    if dataset_id is None:
        return None, None
    with read_session() as session:
        progress = progress_bar(label_counts(session, dataset_id),
                                list_labels(session, dataset_id))
        events = list_events(session, dataset_id, limit=HISTORY_LENGTH)
    history = [_event_row(e) for e in events] or html.Small("No labels yet.",
                                                           className="text-muted")
    return progress, history


@callback(Output(ids.REVISION, "data", allow_duplicate=True),
          Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Input({"type": ids.HISTORY_UNDO, "index": ALL}, "n_clicks"),
          State(ids.TAGGER, "value"), State(ids.REVISION, "data"), prevent_initial_call=True)
@on_refusal(no_update, error_alert)
def undo_from_history(clicks, tagger, revision):
    event_id = clicked_index(clicks)
    with write_session() as session:
        check_may_undo(session, event_id)
        undo = undo_event(session, event_id, tagger_or_default(tagger))
    return (revision or 0) + 1, html.Div(f"Undid event {event_id} "
                                         f"(event {undo.id}).", className="text-success small")


@callback(Output(ids.AS_OF, "data"), Input({"type": ids.HISTORY_VIEW, "index": ALL}, "n_clicks"),
          Input(ids.BACK_TO_LATEST, "n_clicks"), prevent_initial_call=True)
def choose_view(clicks, _back):
    if ctx.triggered_id == ids.BACK_TO_LATEST:
        return None
    return clicked_index(clicks)


@callback(Output(ids.AS_OF_BANNER, "children"), Input(ids.AS_OF, "data"))
def show_view_banner(as_of):
    button = dbc.Button("back to the latest labels", id=ids.BACK_TO_LATEST, color="link",
                        size="sm")
    if as_of is None:  # keep the button in the page so its callback input exists
        return html.Div(button, style={"display": "none"})
    return dbc.Alert([f"Showing the labels as they were right after event {as_of}. ", button],
                     color="info", className="py-1")


@callback(Output(ids.EXPORT_LINKS, "children"), Input(ids.DATASET, "value"))
def show_export_links(dataset_id):
    if dataset_id is None:
        return None
    return html.Div([html.A(name, href=f"/api/v1/datasets/{dataset_id}/export?format={fmt}",
                            className="btn btn-outline-secondary btn-sm me-1", download="")
                     for name, fmt in (("CSV", "csv"), ("JSON", "json"),
                                       ("ZIP of originals", "zip"))])


def _csv_text(contents: str) -> str:
    try:
        return base64.b64decode(contents.split(",", 1)[1]).decode("utf-8-sig")
    except (IndexError, binascii.Error, UnicodeDecodeError) as error:
        raise DomainError("the file is not a UTF-8 CSV file", "file") from error


@callback(Output(ids.IMPORT_REPORT, "children"),
          Output(ids.REVISION, "data", allow_duplicate=True),
          Input(ids.IMPORT, "contents"), State(ids.IMPORT, "filename"),
          State(ids.DATASET, "value"), State(ids.TAGGER, "value"), State(ids.REVISION, "data"),
          prevent_initial_call=True)
@on_refusal(error_alert, no_update)
def import_labels(contents, filename, dataset_id, tagger, revision):
    if not contents or dataset_id is None:
        raise PreventUpdate
    with write_session() as session:
        report = import_labels_csv(session, dataset_id, _csv_text(contents),
                                   tagger_or_default(tagger))
    lines = [f"{filename}: {report.n_tags:,} labels imported (event {report.event_id})."]
    if report.unknown_uri_count:
        lines.append(f"{report.unknown_uri_count:,} unknown URIs, e.g. "
                     + ", ".join(report.unknown_uris[:5]))
    if report.unknown_labels:
        lines.append("unknown labels skipped: " + ", ".join(report.unknown_labels))
    return html.Ul([html.Li(line) for line in lines]), (revision or 0) + 1
