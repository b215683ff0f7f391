"""Behaviour of the gallery: data-set choice, paging, thumbnail tiles."""
from __future__ import annotations

import math

from dash import Input, Output, State, callback, ctx, html
from sqlalchemy import select

from callbacks.common import read_session
from callbacks.ids import Gallery as ids
from db.labels import list_labels
from db.models import Dataset
from db.store import count_items, items_page


def page_count(total: int, page_size: int) -> int:
    return max(1, math.ceil(total / page_size))


def turn_page(trigger: str | None, page: int | None, pages: int) -> int:
    """The page to show after ``trigger`` (a pager button id) on a data set of ``pages``."""
    page = page or 1
    target = {ids.FIRST: 1, ids.PREVIOUS: page - 1, ids.NEXT: page + 1,
              ids.LAST: pages}.get(trigger, page)
    return min(max(1, target), pages)


@callback(Output(ids.DATASET, "options"), Output(ids.DATASET, "value"),
          Input(ids.DATASET, "id"), State(ids.DATASET, "value"))
def list_datasets(_id, chosen):
    with read_session() as session:
        datasets = session.execute(select(Dataset.id, Dataset.name).order_by(Dataset.id)).all()
    options = [{"label": name, "value": dataset_id} for dataset_id, name in datasets]
    if chosen is None and datasets:
        chosen = datasets[0][0]
    return options, chosen


def thumbnail_url(item_id: int, size: int) -> str:
    return f"/thumbs/{item_id}.png?size={size}"


def _tile(item, size: int, labels: dict):
    label = labels.get(item.label_id)
    caption = item.uri.rsplit("/", 1)[-1]
    style = {"width": f"{size + 6}px"}
    if label is not None:
        style["borderColor"] = label.color
    classes = "thumb-tile" + (" unreadable" if item.status == "unreadable" else "")
    return html.Div([
        html.Img(src=thumbnail_url(item.id, size), width=size, height=size, alt=item.uri,
                 title=item.uri),
        html.Div(label.name if label else ("unreadable" if item.status == "unreadable"
                                           else caption), className="thumb-caption"),
    ], className=classes, style=style, id=f"tile-{item.id}")


@callback(Output(ids.GRID, "children"), Output(ids.PAGE, "value"), Output(ids.PAGE_INFO, "children"),
          Output(ids.SUMMARY, "children"),
          Input(ids.DATASET, "value"), Input(ids.PAGE, "value"), Input(ids.PAGE_SIZE, "value"),
          Input(ids.THUMB_SIZE, "value"), Input(ids.FIRST, "n_clicks"),
          Input(ids.PREVIOUS, "n_clicks"), Input(ids.NEXT, "n_clicks"), Input(ids.LAST, "n_clicks"))
def show_page(dataset_id, page, page_size, thumb_size, *_pager_clicks):
    if dataset_id is None:
        return [html.P("Register a data set first.", className="text-muted")], 1, "of 1", ""
    page_size, thumb_size = int(page_size), int(thumb_size)
    with read_session() as session:
        total = count_items(session, dataset_id)
        pages = page_count(total, page_size)
        trigger = ctx.triggered_id if ctx.triggered_id in (ids.FIRST, ids.PREVIOUS, ids.NEXT,
                                                           ids.LAST) else None
        page = 1 if ctx.triggered_id == ids.DATASET else turn_page(trigger, page, pages)
        items = items_page(session, dataset_id, offset=(page - 1) * page_size, limit=page_size)
        labels = {label.id: label for label in list_labels(session, dataset_id)}
    tiles = [_tile(item, thumb_size, labels) for item in items]
    first = (page - 1) * page_size + 1
    summary = f"items {first:,}–{first + len(items) - 1:,} of {total:,}" if items else "no items"
    return tiles, page, f"of {pages:,}", summary
