"""Behaviour of the labeling page's gallery: paging, tiles, labeling, undo, view settings.

Selection and the instant repaint of a labeled tile live in assets/label_keys.js; this
module writes the actions that script queues and draws the pages."""
from __future__ import annotations

import math

import dash_bootstrap_components as dbc
from dash import (ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx,
                  html, no_update)

from api.thumbnails import prefetch as prefetch_thumbnails
from callbacks.common import (error_alert, read_session, register_dataset_dropdown,
                              tagger_or_default, thumbnail_url, write_session)
from callbacks.colours import pill_style, text_color_on
from callbacks.guided_order import guided_order
from callbacks.ids import Label as ids
from callbacks.label_actions import items_of, label_of_action, read_action, undo_last
from data.transforms import Transform
from db.labels import list_labels
from db.models import LabelClass
from db.store import (AUTO_METHODS, TagIn, apply_event, count_items, items_page,
                      label_methods, labels_as_of)
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


def _file_name(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]


def _tile(item, size: int, labels: dict, url: str):
    """One gallery tile: the image, its label (or its file name) and, under a label, the
    file name. Both text lines always take their place, so labeling never moves a tile;
    the keyboard script repaints the caption (ids TILE, CAPTION) the moment a key is
    pressed."""
    label = labels.get(item["label_id"])
    name = _file_name(item["uri"])
    style = {"width": f"{size + 6}px"}
    caption_style = {}
    if label is not None:
        style["borderColor"] = label["color"]
        caption_style = pill_style(label["color"])
    if item["status"] == "unreadable":
        caption, kind = "unreadable", "unreadable"
    else:
        caption, kind = (label["name"], "labeled") if label else (name, "is-name")
    by_model = label is not None and item.get("method") in AUTO_METHODS
    if by_model:  # a model chose it, the user accepted a batch: marked, so it can be reviewed
        caption = [html.I(className="bi bi-cpu me-1", title=f"labeled by {item['method']}"),
                   caption]
    classes = ["thumb-tile"]
    if item["status"] == "unreadable":
        classes.append("unreadable")
    return html.Div([
        html.Img(src=url, width=size, height=size, alt=item["uri"], title=item["uri"]),
        html.Div(caption, id={"type": ids.CAPTION, "index": item["id"]},
                 className=f"thumb-caption {kind}" + (" by-model" if by_model else ""),
                 style=caption_style),
        html.Div(name, className="thumb-file"),
        html.Div(item["note"], className="thumb-note") if item.get("note") else None,
    ], id={"type": ids.TILE, "index": item["id"]}, className=" ".join(classes), style=style,
        **{"data-item": item["id"], "data-label": item["label_id"] or "", "data-name": name})


def _page_filter(show: str) -> dict:
    if show == "unlabeled":
        return {"unlabeled": True}
    if show.startswith("label:"):
        return {"label_id": int(show.split(":", 1)[1])}
    if show.startswith("by:"):
        return {"labeled_by": show.split(":", 1)[1]}
    return {}


def _page_state(revision, items: list[int], labels: dict, hotkeys: dict, editable: bool,
                filtered: bool, prefetch: list[str]) -> dict:
    """What the keyboard script needs to label without asking the server: the page's
    items, the classes by id and by hotkey, whether labels may be given here, whether
    labeled tiles leave the view (a filter or a guided order), and the next page's
    thumbnails to fetch ahead."""
    return {"revision": revision, "items": items,
            "labels": {str(i): label for i, label in labels.items()}, "hotkeys": hotkeys,
            "editable": editable, "filtered": filtered, "prefetch": prefetch}


@callback(Output(ids.GRID, "children"), Output(ids.PAGE, "value"),
          Output(ids.PAGE_INFO, "children"), Output(ids.SUMMARY, "children"),
          Output(ids.PAGE_ITEMS, "data"), Output(ids.PAGE_SUGGESTIONS, "data"),
          Output(ids.PAGE_STATE, "data"),
          Input(ids.DATASET, "value"), Input(ids.PAGE, "value"), Input(ids.PAGE_SIZE, "value"),
          Input(ids.THUMB_SIZE, "value"), Input(ids.SORT, "value"), Input(ids.FILTER, "value"),
          Input(ids.LOG, "value"), Input(ids.PERCENTILES, "value"), Input(ids.COLORMAP, "value"),
          Input(ids.FIRST, "n_clicks"), Input(ids.PREVIOUS, "n_clicks"),
          Input(ids.NEXT, "n_clicks"), Input(ids.LAST, "n_clicks"),
          Input(ids.REVISION, "data"), Input(ids.AS_OF, "data"), Input(ids.GUIDED_ORDER, "data"),
          Input(ids.FOLLOW_REFRESH, "data"))
def show_page(dataset_id, page, page_size, thumb_size, order, show, log, percentiles,
              colormap, _first, _previous, _next, _last, revision, as_of, guided, _arrived):
    """The page of tiles; the keyboard script marks the selected ones after each draw.
    Following a live data set (label_follow.py) draws page 1 again when items arrive."""
    if dataset_id is None:
        return ([html.P("Register a data set first.", className="text-muted")], 1, "of 1", "",
                [], {}, no_update)
    page_size, size = int(page_size), int(thumb_size)
    filters = _page_filter(show or "all")

    def url(item_id):
        return thumbnail_url(item_id, size, log, percentiles or [1, 99], colormap or "gray")

    with read_session() as session:
        ordered = guided_order(session, dataset_id, guided) if guided else None
        total = len(ordered.item_ids) if ordered else count_items(session, dataset_id, **filters)
        pages = page_count(total, page_size)
        if ctx.triggered_id in (ids.DATASET, ids.FILTER, ids.SORT, ids.GUIDED_ORDER):
            page = 1
        else:
            page = turn_page(ctx.triggered_id if ctx.triggered_id in PAGER else None, page, pages)
        offset = (page - 1) * page_size
        prefetch = []
        if ordered:  # a guided mode's order (similarity, uncertainty, review)
            items = ordered.page(session, dataset_id, offset, page_size)
        else:
            # with the page → shows next, whose thumbnails are fetched ahead: one skip
            # through the index, not two (each is most of a deep page's cost at 1M items)
            wanted = page_size * (2 if page < pages else 1)
            rows = items_page(session, dataset_id, offset=offset, limit=wanted,
                              order=order or "name", **filters)
            items = [{"id": r.id, "uri": r.uri, "status": r.status, "label_id": r.label_id}
                     for r in rows[:page_size]]
            prefetch = [url(r.id) for r in rows[page_size:]]
        # the tiles' renders start now, before the browser has their addresses
        prefetch_thumbnails(dataset_id, [url(item["id"]) for item in items])
        classes = list_labels(session, dataset_id, include_archived=True)
        past = labels_as_of(session, dataset_id, as_of) if as_of else None
        # who chose a label is known for the current labels only (not "as of", not answers)
        current = past is None and not (ordered and ordered.answers is not None)
        methods = label_methods(session, [item["id"] for item in items]) if current else {}
        items = [{**item, "method": methods.get(item["id"])} for item in items]
    labels = {label.id: _drawn_class(label) for label in classes}
    hotkeys = {label.hotkey: label.id for label in classes
               if label.hotkey and not label.archived}
    if past is not None:
        items = [{**item, "label_id": past.get(item["id"])} for item in items]
    tiles = [_tile(item, size, labels, url(item["id"])) for item in items]
    first = (page - 1) * page_size + 1
    summary = (f"items {first:,}–{first + len(items) - 1:,} of {total:,}" if items
               else "nothing to show with this filter")
    if ordered:
        summary = f"{summary} · {ordered.title}"
    suggested = {str(item["id"]): item["suggested"] for item in items
                 if item.get("suggested") is not None}
    editable = not as_of and (guided or {}).get("kind") != "checkpoint"
    item_ids = [item["id"] for item in items]
    state = _page_state(revision, item_ids, labels, hotkeys, editable, bool(filters or ordered),
                        prefetch)
    return tiles, page, f"of {pages:,}", summary, item_ids, suggested, state


@callback(Output(ids.WRITTEN, "data"), Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Input(ids.KEY, "data"),
          State(ids.SELECTION, "data"), State(ids.DATASET, "value"), State(ids.TAGGER, "value"),
          State(ids.ADVANCE, "value"), State(ids.AS_OF, "data"), State(ids.GUIDED_ORDER, "data"),
          prevent_initial_call=True)
def label_selection(key_press, selection, dataset_id, tagger, advance, as_of, guided):
    """Write one action the keyboard script queued (a key, or a class, unlabel or undo
    button), and answer it in WRITTEN: the script has shown it already, sends the next
    one on this answer and takes a refused one back (the alert says why)."""
    answer = {"seq": (key_press or {}).get("seq"), "advance": bool(advance)}
    if (guided or {}).get("kind") == "checkpoint":
        return {**answer, "ok": True}, no_update  # answers, not labels: label_guided.py
    try:
        note, hotkey_class = _write_action(key_press, selection, dataset_id, tagger, as_of)
    except DomainError as error:
        return {**answer, "ok": False, "error": str(error)}, error_alert(error)
    return {**answer, "ok": True, "hotkey_class": hotkey_class}, note


def _drawn_class(label: LabelClass) -> dict:
    """What the page's keyboard script draws a class with."""
    return {"name": label.name, "color": label.color, "text": text_color_on(label.color)}


def _write_action(key_press, selection, dataset_id, tagger, as_of):
    """Record the action as a tagging event; (a note to show or no_update, and for a
    hotkey the class it gave, as the page draws classes: a key pressed before the page
    knew of a class just added is shown once the answer says which class it is)."""
    if dataset_id is None:
        raise DomainError("choose a data set first", "dataset")
    action, argument = read_action(ids.KEY, key_press)
    tagger = tagger_or_default(tagger)
    if as_of and action != "undo":
        raise DomainError("you are viewing past labels; go back to the latest labels to "
                          "label", "as_of")
    with write_session() as session:
        if action == "undo":
            undone = undo_last(session, dataset_id, tagger)
            return dbc.Alert(f"Undid event {undone}.", color="success", duration=3000,
                             className="py-1 mb-0"), None
        items = items_of(key_press, selection)
        label_id = label_of_action(session, dataset_id, action, argument)
        apply_event(session, dataset_id, tagger, "manual",
                    [TagIn(item_id, label_id) for item_id in items])
        label = session.get(LabelClass, label_id) if action == "hotkey" else None
        hotkey_class = None if label is None else {
            "id": label.id, "hotkey": label.hotkey, **_drawn_class(label)}
    return no_update, hotkey_class


@callback(Output(ids.PERCENTILES, "value"), Output(ids.PERCENTILE_LOW, "value"),
          Output(ids.PERCENTILE_HIGH, "value"), Output(ids.PERCENTILE_NOTE, "children"),
          Input(ids.PERCENTILES, "value"), Input(ids.PERCENTILE_LOW, "value"),
          Input(ids.PERCENTILE_HIGH, "value"), prevent_initial_call=True)
def sync_percentiles(chosen, low, high):
    """The slider and the two number boxes show one range; typed values are checked first
    (a number box sends None for what is not a number)."""
    if ctx.triggered_id == ids.PERCENTILES:
        return no_update, chosen[0], chosen[1], ""
    kept = f"the thumbnails keep {chosen[0]:g}–{chosen[1]:g}"
    if low is None or high is None:  # empty, not a number, or outside the boxes' 0–100
        return (no_update, no_update, no_update,
                f"Type a percentile from 0 to 100 in both boxes; {kept}.")
    try:
        Transform(pmin=low, pmax=high)
    except ValueError as error:
        return no_update, no_update, no_update, f"{error}; {kept}."
    return [low, high], no_update, no_update, ""


# The keyboard script (assets/label_keys.js) learns of each page shown and of each answer
# to the action it sent (and says how many are still to be saved); when the labeler pauses
# with nothing left to send it bumps REVISION, which redraws what shows labels (progress,
# history, and this page from the database).
clientside_callback(ClientsideFunction("beamlabel_label", "pageShown"),
                    Output(ids.SYNC, "title"), Input(ids.PAGE_STATE, "data"))
clientside_callback(ClientsideFunction("beamlabel_label", "written"),
                    Output(ids.SYNC, "children"), Input(ids.WRITTEN, "data"),
                    prevent_initial_call=True)
