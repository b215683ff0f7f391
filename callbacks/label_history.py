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
from callbacks.colours import pill_style
from callbacks.event_wording import ClassName, as_text, describe_event
from callbacks.ids import Label as ids
from data.label_import import import_labels_csv
from db.event_summaries import tags_by_label, undone_by
from db.labels import list_labels
from db.store import label_counts, list_events
from db.undo import undo_event
from errors import DomainError

HISTORY_LENGTH = 30
# A segment shows its count inside only where the text fits: this share of the bar (in %)
# per character, at the side panel's narrowest width; the legend and tooltip always have it.
SEGMENT_PERCENT_PER_CHARACTER = 2.5


def _share(count: int, total: int) -> str:
    return f"{100 * count / total:.1f} %"


def _segment(label, count: int, total: int) -> html.Div:
    """One class's part of the progress bar, in its colour, with readable text."""
    width = 100 * count / total
    text = f"{count:,}"
    fits = width >= SEGMENT_PERCENT_PER_CHARACTER * (len(text) + 1)
    return html.Div(text if fits else None, className="label-progress-segment",
                    title=f"{label.name}: {count:,} ({_share(count, total)})",
                    style={**pill_style(label.color), "width": f"{width:.3f}%"},
                    **{"data-label": label.name})


def progress_bar(counts, labels):
    """A bar of class-coloured segments (share of the whole data set), labeled / total, and
    a legend with every class's count."""
    total = max(counts.total, 1)
    segments = [_segment(label, counts.per_label[label.id], total)
                for label in labels if counts.per_label.get(label.id)]
    legend = [html.Div([html.Span(className="swatch", style={"background": label.color}),
                        f"{label.name}: {counts.per_label.get(label.id, 0):,} "
                        f"({_share(counts.per_label.get(label.id, 0), total)})"],
                       className="label-progress-legend-row")
              for label in labels]
    share = 100 * counts.labeled / total
    bar = html.Div(segments, className="label-progress-bar", role="progressbar",
                   **{"aria-valuenow": f"{share:.1f}", "aria-valuemin": "0",
                      "aria-valuemax": "100", "aria-label": "labeled share by class"})
    return [bar,
            html.Div(f"{counts.labeled:,} / {counts.total:,} labeled ({share:.1f} %)",
                     className="small mt-1", id="label-progress-text"),
            html.Div(legend, className="small text-muted label-progress-legend")]


def _rendered(part):
    if isinstance(part, ClassName):
        return html.Span(part.name, className="class-pill", style=pill_style(part.color))
    return part


def _event_row(event, counts, classes, undo_id):
    when = event.created_at.strftime("%H:%M:%S")
    words = describe_event(event.method, event.params or {}, event.n_tags, counts, classes)
    undone = html.Span(f" · undone by #{undo_id}", className="text-muted") if undo_id else None
    return html.Div([
        html.Span([html.Span(f"#{event.id} {event.tagger} "),
                   html.Span([_rendered(part) for part in words], className="event-words"),
                   undone],
                  className="event-text", title=f"{as_text(words)} at {when}"),
        html.Small(when, className="text-muted"),
        dbc.Button("view", id={"type": ids.HISTORY_VIEW, "index": event.id}, color="link",
                   size="sm", className="p-0 me-1", title="show the labels as of this event"),
        dbc.Button("undo", id={"type": ids.HISTORY_UNDO, "index": event.id}, color="link",
                   size="sm", className="p-0", title="undo this event"),
    ], className="event-row")


def history_rows(session, dataset_id: int) -> list:
    """The newest events, each in words."""
    events = list_events(session, dataset_id, limit=HISTORY_LENGTH)
    event_ids = [event.id for event in events]
    counts = tags_by_label(session, event_ids)
    undos = undone_by(session, event_ids)
    classes = {label.id: ClassName(label.name, label.color)
               for label in list_labels(session, dataset_id, include_archived=True)}
    return [_event_row(event, counts[event.id], classes, undos.get(event.id))
            for event in events]


@callback(Output(ids.PROGRESS, "children"), Output(ids.HISTORY, "children"),
          Input(ids.DATASET, "value"), Input(ids.REVISION, "data"))
def show_progress_and_history(dataset_id, _revision):
    """The progress bar and the newest events, drawn again after every event."""
    if dataset_id is None:
        return None, None
    with read_session() as session:
        progress = progress_bar(label_counts(session, dataset_id),
                                list_labels(session, dataset_id))
        history = history_rows(session, dataset_id)
    return progress, history or html.Small("No labels yet.", className="text-muted")


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
