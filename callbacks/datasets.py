"""Behaviour of the data-set page: folder browsing, registration, the data-set list."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.common import (clicked_index, dataset_choices, error_alert, on_refusal,
                              read_session)
from callbacks.ids import Datasets as ids
from data.catalog import dataset_summaries, ensure_demo_dataset, register_dataset
from data.live_ingest import arrived_last_minute
from data.folders import browse
from data.sources import SourceError
from db.store import get_dataset
from errors import DomainError
from services import current_services


@callback(Output(ids.FOLDER_LIST, "children"), Input(ids.FOLDER, "value"))
def show_subfolders(folder):
    view = browse(folder, current_services().settings.data_roots)
    entries = []
    if view.error:
        entries.append(dbc.ListGroupItem(view.error, color="warning"))
    if view.path is not None:
        up = str(view.parent) if view.parent else ""
        entries.append(dbc.ListGroupItem([html.I(className="bi bi-arrow-up me-2"), ".."],
                                         id={"type": ids.FOLDER_ENTRY, "index": up},
                                         action=True))
    for sub in view.subfolders:
        label = str(sub) if view.path is None else sub.name
        entries.append(dbc.ListGroupItem([html.I(className="bi bi-folder me-2"), label],
                                         id={"type": ids.FOLDER_ENTRY, "index": str(sub)},
                                         action=True))
    return entries


@callback(Output(ids.FOLDER, "value"),
          Input({"type": ids.FOLDER_ENTRY, "index": ALL}, "n_clicks"),
          prevent_initial_call=True)
def enter_folder(clicks):
    return clicked_index(clicks)


def label_page(dataset_id: int) -> str:
    return f"/label?dataset={dataset_id}"


def _started(dataset_id: int, name: str):
    current_services().start_scan(dataset_id)
    return dbc.Alert([f"Registered '{name}'. ",
                      html.A("Open it for labeling", href=label_page(dataset_id))],
                     color="success", dismissable=True)


@callback(Output(ids.FEEDBACK, "children"),
          Input(ids.REGISTER, "n_clicks"),
          State(ids.NAME, "value"), State(ids.SOURCE_TABS, "active_tab"),
          State(ids.FOLDER, "value"), State(ids.TILED_URI, "value"),
          State(ids.TILED_KEY, "value"), prevent_initial_call=True)
@on_refusal(error_alert, errors=(DomainError, SourceError))
def register(_clicks, name, kind, folder, tiled_uri, tiled_key):
    location = folder if kind == "directory" else tiled_uri
    if not location:
        what = "a folder" if kind == "directory" else "a Tiled URI"
        return dbc.Alert(f"Choose {what} first.", color="warning", dismissable=True)
    if not name:
        name = location.rstrip("/").rsplit("/", 1)[-1]
    services = current_services()
    dataset = register_dataset(services.session_factory, services.settings.data_roots,
                               name, kind, location, tiled_key or None,
                               tiled_hosts=services.settings.tiled_hosts)
    return _started(dataset.id, dataset.name)


@callback(Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Output(ids.OPEN_PAGE, "href"),
          Input(ids.DEMO, "n_clicks"), prevent_initial_call=True)
@on_refusal(error_alert, no_update, errors=(DomainError, SourceError, OSError))
def create_demo(_clicks):
    """Create the demo data set and open its label page: asking for the demo is asking
    to start labeling it."""
    services = current_services()
    dataset_id = ensure_demo_dataset(services.session_factory, services.settings)
    services.start_scan(dataset_id)
    return None, label_page(dataset_id)


def _status(summary) -> html.Span:
    if summary.status == "scanning":
        done = summary.scanned_files / max(summary.total_files, 1)
        return html.Span([dbc.Badge("reading headers", color="info", className="me-2"),
                          dbc.Progress(value=100 * done, style={"height": "6px"},
                                       className="mt-1")])
    return dbc.Badge(summary.status, color="success" if summary.status == "ready" else "danger")


def _problems(summary):
    if not summary.problems:
        return html.Span("none", className="text-muted")
    rows = [html.Li([html.Code(p.path), f": {p.message}"]) for p in summary.problems]
    more = summary.problem_count - len(summary.problems)
    if more > 0:
        rows.append(html.Li(f"… and {more} more"))
    return html.Details([html.Summary(f"{summary.problem_count} unreadable"),
                         html.Ul(rows, className="small")], className="text-danger")


def _live(summary, arrived: int):
    # "shown": the state the switch was drawn with, so that only a flip counts (below)
    switch = dbc.Switch(id={"type": ids.LIVE, "index": summary.id, "shown": summary.live},
                        value=summary.live, label="Live", className="mb-0")
    if not summary.live:
        return switch
    return html.Div([switch, html.Small(f"{arrived:,} new in the last minute",
                                        className="text-muted live-arrivals")])


def _table(summaries, arrivals: dict[int, int]):
    header = html.Thead(html.Tr([html.Th(h) for h in ("Name", "Source", "Status", "Items",
                                                      "Labeled", "Problems", "Live")]))
    rows = [html.Tr([
        html.Td(html.A(s.name, href=label_page(s.id))),
        html.Td(html.Small(f"{s.source_kind}: {s.location}", className="text-break")),
        html.Td(_status(s)),
        html.Td(f"{s.item_count:,}"),
        html.Td(f"{s.labeled_count:,}"),
        html.Td(_problems(s)),
        html.Td(_live(s, arrivals.get(s.id, 0))),
    ]) for s in summaries]
    return dbc.Table([header, html.Tbody(rows)], hover=True, size="sm", responsive=True)


@callback(Output(ids.TABLE, "children"), Output(ids.DEMO_CARD, "style"),
          Output(ids.REFRESH, "disabled"),
          Input(ids.REFRESH, "n_intervals"), Input(ids.FEEDBACK, "children"))
def show_datasets(_tick, _feedback):
    """The data sets; refreshed while headers are read or a data set is live."""
    with read_session() as session:
        summaries = dataset_summaries(session)
        arrivals = {s.id: arrived_last_minute(session, s.id) for s in summaries if s.live}
    if not summaries:
        return (html.P("No data set registered yet.", className="text-muted"), None, True)
    changing = any(s.status == "scanning" or s.live for s in summaries)
    return _table(summaries, arrivals), {"display": "none"}, not changing


@callback(Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Input({"type": ids.LIVE, "index": ALL, "shown": ALL}, "value"),
          prevent_initial_call=True)
@on_refusal(error_alert)
def switch_live(values):
    """Mark the data set whose switch was flipped live or not. A re-drawn table fires this
    too, with the values it was drawn with: only a value that differs from the one its
    switch was drawn with is a flip (comparing with the database instead would let a table
    drawn just before a change elsewhere undo that change)."""
    if not ctx.triggered_id:
        raise PreventUpdate
    switch = ctx.triggered_id
    live = next(bool(value) for entry, value in zip(ctx.inputs_list[0], values)
                if entry["id"] == switch)
    if live == switch["shown"]:
        raise PreventUpdate
    dataset_id = switch["index"]
    name = current_services().mark_live(dataset_id, live)
    text = (f"'{name}' is live: new images are registered as they arrive." if live
            else f"'{name}' is no longer live.")
    return dbc.Alert(text, color="info", dismissable=True)


@callback(Output(ids.REPLAY_SOURCE, "options"), Output(ids.REPLAY_SOURCE, "value"),
          Input(ids.FEEDBACK, "children"), State(ids.REPLAY_SOURCE, "value"))
def list_replayable(_feedback, chosen):
    """The data sets to replay, again after each registration or replay."""
    return dataset_choices(chosen)


@callback(Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Input(ids.REPLAY, "n_clicks"), State(ids.REPLAY_SOURCE, "value"),
          State(ids.REPLAY_RATE, "value"), prevent_initial_call=True)
@on_refusal(error_alert)
def replay(_clicks, dataset_id, rate):
    """Replay the chosen data set into a new live one (services.start_replay)."""
    if dataset_id is None:
        raise DomainError("choose a data set to replay", "dataset")
    if rate is None:
        raise DomainError("give the images per second: above 0 and at most 1000", "rate")
    replayed = current_services().start_replay(int(dataset_id), rate)
    with read_session() as session:
        name = get_dataset(session, replayed).name
    return dbc.Alert([f"Replaying into '{name}' at {rate:g} images per second. ",
                      html.A("Open it for labeling", href=label_page(replayed))],
                     color="success", dismissable=True)


@callback(Output(ids.FOLDER, "value", allow_duplicate=True), Input(ids.FOLDER, "id"),
          prevent_initial_call="initial_duplicate")
def start_at_first_root(_id):
    roots = current_services().settings.data_roots
    return str(roots[0]) if roots else no_update
