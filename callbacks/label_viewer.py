"""Behaviour of the labeling page's full-resolution viewer (pages/_label_viewer.py): which
item it shows, its picture and facts, and labeling that item from the keyboard; and the
keyboard help."""
from __future__ import annotations

from typing import Optional

import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, ctx, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.common import (error_alert, note, on_refusal, read_session, tagger_or_default,
                              thumbnail_url, write_session)
from callbacks.ids import Label as ids
from callbacks.label_actions import label_of_action, undo_last
from callbacks.viewer_figure import render_size, viewer_figure
from data.sources import SourceError, UnreadableImage
from db.lookups import item_with_label
from db.store import TagIn, apply_event
from errors import DomainError
from services import current_services


def step_through(order: list[int], item: int, step: int) -> Optional[int]:
    """The item ``step`` places from ``item`` in ``order``, stopping at either end; None
    when ``item`` is not in ``order``."""
    if item not in order:
        return None
    position = min(max(order.index(item) + step, 0), len(order) - 1)
    return order[position]


def _arrow_count(previous: Optional[int], following: Optional[int]) -> int:
    return (following or 0) - (previous or 0)


@callback(Output(ids.VIEWER_ITEM, "data"), Output(ids.VIEWER, "is_open"),
          Input(ids.OPEN, "data"), Input(ids.VIEWER_PREVIOUS, "n_clicks"),
          Input(ids.VIEWER_NEXT, "n_clicks"),
          State(ids.PAGE_ITEMS, "data"), State(ids.VIEWER_ITEM, "data"),
          prevent_initial_call=True)
def choose_item(request, previous, following, page_items, viewed):
    """Open on the item the gallery asks for, remembering the page's order then (labeling
    in the viewer may take items off a filtered page); the arrows walk that order.

    The step is counted from the arrows' click totals, not taken as one per call: two
    quick presses trigger this twice before the first answer arrives, and the renderer
    keeps only the last answer, which must then move two places."""
    arrows = _arrow_count(previous, following)
    if ctx.triggered_id == ids.OPEN:
        if not request:
            raise PreventUpdate
        item = request["item"]
        order = page_items if item in (page_items or []) else [item]
        return {"item": item, "order": order, "arrows": arrows}, True
    if not viewed:
        raise PreventUpdate
    step = arrows - viewed.get("arrows", arrows)
    shown = step_through(viewed["order"], viewed["item"], step)
    if shown is None:
        raise PreventUpdate
    return {**viewed, "item": shown, "arrows": arrows}, no_update


def _read_raw(dataset, item):
    """The raw values at full resolution, or the reason they cannot be read."""
    try:
        return current_services().source(dataset).read(item.path, item.frame), None
    except (UnreadableImage, SourceError) as error:
        return None, str(error)


def _value_range(raw: np.ndarray) -> str:
    finite = raw[np.isfinite(raw)] if raw.dtype.kind == "f" else raw
    text = f"{finite.min():g} … {finite.max():g}" if finite.size else "no finite values"
    missing = raw.size - finite.size
    return text + (f" ({missing:,} not finite)" if missing else "")


def _facts_table(item, dataset, label, raw, problem) -> dbc.Table:
    facts = [("file", item.uri), ("data set", dataset.name)]
    if raw is None:
        facts.append(("unreadable", problem))
    else:
        facts += [("shape", f"{raw.shape[0]} × {raw.shape[1]}"), ("dtype", str(raw.dtype)),
                  ("values", _value_range(raw))]
    facts.append(("label", label.name if label else "unlabeled"))
    return dbc.Table(html.Tbody([html.Tr([html.Th(name), html.Td(value)])
                                 for name, value in facts]), size="sm", className="mb-1")


@callback(Output(ids.VIEWER_TITLE, "children"), Output(ids.VIEWER_GRAPH, "figure"),
          Output(ids.VIEWER_FACTS, "children"), Output(ids.VIEWER_PREVIOUS, "disabled"),
          Output(ids.VIEWER_NEXT, "disabled"),
          Input(ids.VIEWER_ITEM, "data"), Input(ids.REVISION, "data"),
          State(ids.VIEWER, "is_open"), State(ids.LOG, "value"),
          State(ids.PERCENTILES, "value"), State(ids.COLORMAP, "value"),
          prevent_initial_call=True)
def show_item(viewed, _revision, is_open, log, percentiles, colormap):
    """The viewed item's picture, facts and place in the page; after a labeling event
    (the revision) only what shows its label."""
    relabeled = ctx.triggered_id == ids.REVISION
    if not viewed or (relabeled and not is_open):
        raise PreventUpdate
    with read_session() as session:
        row = item_with_label(session, viewed["item"])
    if row is None:
        raise PreventUpdate  # the data set was deleted meanwhile
    item, dataset, label = row
    raw, problem = _read_raw(dataset, item)
    height, width = raw.shape[:2] if raw is not None else (item.height or 512, item.width or 512)
    order = viewed["order"]
    position = order.index(item.id) + 1 if item.id in order else 1
    title = [html.Span(item.uri.rsplit("/", 1)[-1], className="fw-semibold me-2"),
             html.Span(f"{position} of {len(order)} on this page", className="text-muted me-2"),
             html.Span(label.name if label else "unlabeled", className="viewer-label")]
    figure = no_update if relabeled else viewer_figure(
        item.id, thumbnail_url(item.id, render_size(height, width), log,
                               percentiles or [1, 99], colormap or "gray"), height, width)
    return (title, figure, _facts_table(item, dataset, label, raw, problem),
            position == 1, position == len(order))


def _key_action(key: Optional[str]) -> tuple[str, Optional[str]]:
    if key == "undo":
        return "undo", None
    if key == "unlabel":
        return "unlabel", None
    return "hotkey", key


@callback(Output(ids.REVISION, "data", allow_duplicate=True),
          Output(ids.VIEWER_FEEDBACK, "children"),
          Input(ids.VIEWER_KEY, "data"), State(ids.VIEWER_ITEM, "data"),
          State(ids.DATASET, "value"), State(ids.TAGGER, "value"), State(ids.AS_OF, "data"),
          State(ids.GUIDED_ORDER, "data"), State(ids.REVISION, "data"),
          prevent_initial_call=True)
@on_refusal(no_update, error_alert)
def label_viewed_item(key_press, viewed, dataset_id, tagger, as_of, guided, revision):
    """A labeling key pressed in the viewer: one tagging event on the item shown (the
    gallery's manual event), or undo of the tagger's last event."""
    if not key_press or not viewed or dataset_id is None:
        raise PreventUpdate
    action, hotkey = _key_action(key_press.get("key"))
    if (guided or {}).get("kind") == "checkpoint":
        raise DomainError("a validation checkpoint takes its answers in the gallery; close "
                          "the viewer to answer", "key")
    if as_of and action != "undo":
        raise DomainError("you are viewing past labels; go back to the latest labels to "
                          "label", "key")
    tagger = tagger_or_default(tagger)
    with write_session() as session:
        if action == "undo":
            undone = undo_last(session, dataset_id, tagger)
            return revision + 1, note(f"Undid event {undone}.")
        label_id = label_of_action(session, dataset_id, action, hotkey)
        event = apply_event(session, dataset_id, tagger, "manual",
                            [TagIn(viewed["item"], label_id)])
    return revision + 1, note(("Unlabeled" if label_id is None else "Labeled")
                              + f" this image (event {event.id}).")


@callback(Output(ids.HELP, "is_open"), Input(ids.HELP_BUTTON, "n_clicks"),
          State(ids.HELP, "is_open"), prevent_initial_call=True)
def toggle_help(_clicks, is_open):
    return not is_open
