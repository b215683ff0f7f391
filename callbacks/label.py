"""Behaviour of the labeling page's gallery: paging, tiles, selection, labeling, undo."""
from __future__ import annotations

import math

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.common import (error_alert, on_refusal, read_session, register_dataset_dropdown,
                              tagger_or_default, thumbnail_url, write_session)
from callbacks.guided_order import guided_order
from callbacks.ids import Label as ids
from callbacks.label_actions import label_of_action, read_action
from db.labels import list_labels
from db.lookups import all_labeled
from db.store import (AUTO_METHODS, TagIn, apply_event, count_items, items_page,
                      label_methods, labels_as_of)
from db.undo import last_undoable_event, undo_event
from errors import DomainError
from services import current_services

PAGER = {ids.FIRST, ids.PREVIOUS, ids.NEXT, ids.LAST}


def page_count(total: int, page_size: int) -> int:
    return max(1, math.ceil(total / page_size))


def turn_page(trigger: str | None, page: int | None, pages: int) -> int:
    """The page to show after ``trigger`` (a pager button id) on a data set of ``pages``."""
    page = page or 1
    target = {ids.FIRST: 1, ids.PREVIOUS: page - 1, ids.NEXT: page + 1,
              ids.LAST: pages}.get(trigger, page)
    return min(max(1, target), pages)


register_dataset_dropdown(ids.DATASET, ids.DATASET_REQUESTED)


# One callback both ways: two callbacks feeding each other are a dependency cycle to Dash.
@callback(Output(ids.TAGGER, "value"), Output(ids.TAGGER_SAVED, "data"),
          Output(ids.TAGGER, "disabled"),
          Input(ids.TAGGER_SAVED, "data"), Input(ids.TAGGER, "value"))
def sync_tagger(saved, name):
    """Show the name remembered in this browser; remember the one typed. With accounts the
    name is the logged-in user's, and cannot be changed."""
    with_accounts = current_services().settings.auth != "none"
    if ctx.triggered_id == ids.TAGGER and not with_accounts:
        return no_update, (name or "").strip() or no_update, False
    return tagger_or_default(saved), no_update, with_accounts


def _tile(item, size: int, labels: dict, selected: set, url: str):
    label = labels.get(item["label_id"])
    style = {"width": f"{size + 6}px"}
    caption_style = {}
    if label is not None:
        style["borderColor"] = label["color"]
        caption_style = {"background": label["color"]}
    if item["status"] == "unreadable":
        caption = "unreadable"
    else:
        caption = label["name"] if label else item["uri"].rsplit("/", 1)[-1]
    by_model = label is not None and item.get("method") in AUTO_METHODS
    if by_model:  # a model chose it, the user accepted a batch: marked, so it can be reviewed
        caption = [html.I(className="bi bi-cpu me-1", title=f"labeled by {item['method']}"),
                   caption]
    classes = ["thumb-tile"]
    if item["status"] == "unreadable":
        classes.append("unreadable")
    if item["id"] in selected:
        classes.append("selected")
    return html.Div([
        html.Img(src=url, width=size, height=size, alt=item["uri"], title=item["uri"]),
        html.Div(caption, className="thumb-caption" + (" labeled" if label else "")
                 + (" by-model" if by_model else ""),
                 style=caption_style),
        html.Div(item["note"], className="thumb-note") if item.get("note") else None,
    ], className=" ".join(classes), style=style, **{"data-item": item["id"]})


def _page_filter(show: str, hide_labeled: bool) -> dict:
    if hide_labeled or show == "unlabeled":
        return {"unlabeled": True}
    if show.startswith("label:"):
        return {"label_id": int(show.split(":", 1)[1])}
    if show.startswith("by:"):
        return {"labeled_by": show.split(":", 1)[1]}
    return {}


@callback(Output(ids.GRID, "children"), Output(ids.PAGE, "value"),
          Output(ids.PAGE_INFO, "children"), Output(ids.SUMMARY, "children"),
          Output(ids.PAGE_ITEMS, "data"), Output(ids.PAGE_SUGGESTIONS, "data"),
          Input(ids.DATASET, "value"), Input(ids.PAGE, "value"), Input(ids.PAGE_SIZE, "value"),
          Input(ids.THUMB_SIZE, "value"), Input(ids.SORT, "value"), Input(ids.FILTER, "value"),
          Input(ids.HIDE_LABELED, "value"), Input(ids.LOG, "value"),
          Input(ids.PERCENTILES, "value"), Input(ids.COLORMAP, "value"),
          Input(ids.FIRST, "n_clicks"), Input(ids.PREVIOUS, "n_clicks"),
          Input(ids.NEXT, "n_clicks"), Input(ids.LAST, "n_clicks"),
          Input(ids.REVISION, "data"), Input(ids.AS_OF, "data"), Input(ids.GUIDED_ORDER, "data"),
          State(ids.SELECTION, "data"))
def show_page(dataset_id, page, page_size, thumb_size, order, show, hide_labeled, log,
              percentiles, colormap, _first, _previous, _next, _last, _revision, as_of,
              guided, selection):
    if dataset_id is None:
        return [html.P("Register a data set first.", className="text-muted")], 1, "of 1", "", [], {}
    page_size, size = int(page_size), int(thumb_size)
    filters = _page_filter(show or "all", bool(hide_labeled))
    with read_session() as session:
        ordered = guided_order(session, dataset_id, guided) if guided else None
        total = len(ordered.item_ids) if ordered else count_items(session, dataset_id, **filters)
        pages = page_count(total, page_size)
        if ctx.triggered_id in (ids.DATASET, ids.FILTER, ids.HIDE_LABELED, ids.SORT,
                                ids.GUIDED_ORDER):
            page = 1
        else:
            page = turn_page(ctx.triggered_id if ctx.triggered_id in PAGER else None, page, pages)
        offset = (page - 1) * page_size
        if ordered:  # a guided mode's order (similarity, uncertainty, review)
            items = ordered.page(session, dataset_id, offset, page_size)
        else:
            rows = items_page(session, dataset_id, offset=offset, limit=page_size,
                              order=order or "name", **filters)
            items = [{"id": r.id, "uri": r.uri, "status": r.status, "label_id": r.label_id}
                     for r in rows]
        labels = {label.id: {"name": label.name, "color": label.color}
                  for label in list_labels(session, dataset_id, include_archived=True)}
        past = labels_as_of(session, dataset_id, as_of) if as_of else None
        # who chose a label is known for the current labels only (not "as of", not answers)
        current = past is None and not (ordered and ordered.answers is not None)
        methods = label_methods(session, [item["id"] for item in items]) if current else {}
        items = [{**item, "method": methods.get(item["id"])} for item in items]
    if past is not None:
        items = [{**item, "label_id": past.get(item["id"])} for item in items]
    selected = set(selection or [])
    tiles = [_tile(item, size, labels, selected,
                   thumbnail_url(item["id"], size, log, percentiles or [1, 99], colormap or "gray"))
             for item in items]
    first = (page - 1) * page_size + 1
    summary = (f"items {first:,}–{first + len(items) - 1:,} of {total:,}" if items
               else "nothing to show with this filter")
    if ordered:
        summary = f"{summary} · {ordered.title}"
    suggested = {str(item["id"]): item["suggested"] for item in items
                 if item.get("suggested") is not None}
    return tiles, page, f"of {pages:,}", summary, [item["id"] for item in items], suggested


def _next_selection(page_items: list[int], selection: list[int]) -> list[int]:
    """After labeling, select the tile that follows the last selected one."""
    positions = [page_items.index(i) for i in selection if i in page_items]
    following = max(positions, default=-1) + 1
    return [page_items[following]] if following < len(page_items) else []


@callback(Output(ids.REVISION, "data"), Output(ids.SELECTION, "data"),
          Output(ids.FEEDBACK, "children"), Output(ids.PAGE, "value", allow_duplicate=True),
          Input(ids.KEY, "data"), Input({"type": ids.LABEL_BUTTON, "index": ALL}, "n_clicks"),
          Input(ids.UNLABEL, "n_clicks"), Input(ids.UNDO, "n_clicks"),
          State(ids.SELECTION, "data"), State(ids.DATASET, "value"), State(ids.TAGGER, "value"),
          State(ids.PAGE_ITEMS, "data"), State(ids.ADVANCE, "value"), State(ids.AS_OF, "data"),
          State(ids.REVISION, "data"), State(ids.PAGE, "value"), State(ids.GUIDED_ORDER, "data"),
          prevent_initial_call=True)
@on_refusal(no_update, no_update, error_alert, no_update)
def label_selection(key_press, label_clicks, _unlabel, _undo, selection, dataset_id, tagger,
                    page_items, advance, as_of, revision, page, guided):
    if ctx.triggered_id is None or dataset_id is None:
        raise PreventUpdate
    if (guided or {}).get("kind") == "checkpoint":
        raise PreventUpdate  # labels given in a checkpoint are answers (label_guided.py)
    if isinstance(ctx.triggered_id, dict) and not any(label_clicks):
        raise PreventUpdate  # the class buttons were just re-drawn
    action, argument = read_action(ctx.triggered_id, key_press)
    tagger = tagger_or_default(tagger)
    if as_of and action != "undo":
        return no_update, no_update, dbc.Alert(
            "You are viewing past labels; go back to the latest labels to label.",
            color="warning", dismissable=True), no_update
    with write_session() as session:
        if action == "undo":
            event = last_undoable_event(session, dataset_id, tagger)
            if event is None:
                raise DomainError(f"{tagger} has nothing left to undo", "tagger")
            undo_event(session, event.id, tagger)
            return revision + 1, selection, _note(f"Undid event {event.id}."), no_update
        if not selection:
            raise DomainError("select tiles first (click, shift-click, or a for the page)",
                              "selection")
        label_id = label_of_action(session, dataset_id, action, argument)
        event = apply_event(session, dataset_id, tagger, "manual",
                            [TagIn(item_id, label_id) for item_id in selection])
        # a guided order is ranked again after each event (labeled items may leave it)
        done = advance and not guided and all_labeled(session, page_items or [])
    verb = "Unlabeled" if label_id is None else "Labeled"
    feedback = _note(f"{verb} {len(selection)} item{'s' * (len(selection) != 1)} "
                     f"(event {event.id}).")
    if done:
        return revision + 1, [], feedback, (page or 1) + 1
    return revision + 1, _next_selection(page_items or [], selection), feedback, no_update


def _note(text: str):
    return html.Div(text, className="text-success small mb-1", id="label-last-action")
