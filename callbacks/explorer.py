"""Behaviour of the latent space explorer: compute or reopen projections, colour the points,
select (lasso, box, a whole cluster), summarise, heat-map and label the selection.

A projection is always a ``projection`` job, so it is computed once and reopened from the
job table. Small PCA projections run right here in the callback; the rest go to a worker
and open when the jobs panel sees them finish. The selection store holds only a key of a
selection saved beside its projection (or a cluster number), never thousands of ids.

A large projection is drawn as it is seen: more points in view than the page's limit are
drawn as their density (a grid of counts, recomputed on every zoom and pan), fewer as the
points themselves; over a density, a lasso or box selects the items inside it by their
stored coordinates (callbacks/explorer_view.py).

Items that reach the feature job after the projection was fitted (a live data set) are
placed on it by its fitted transform and drawn as a trace of their own, without fitting
again: an interval looks whether rows were appended to the feature job, and only then
redraws.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import ALL, Input, Output, State, callback, ctx, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.common import (error_alert, fields_of, on_refusal, read_session,
                              register_dataset_dropdown, register_jobs_filter, shown_group,
                              tagger_or_default, thumbnail_url, write_session)
from callbacks.explorer_figure import cluster_groups, label_groups
from callbacks.explorer_points import event_rows, load_traces, save_traces
from callbacks.explorer_view import (Drawable, Plot, density_plot, points_limit, points_plot,
                                     region_items, rows_to_draw)
from callbacks.ids import Explorer as ids
from callbacks.ids import JobsPanel, Label
from db import jobs as job_store
from db.labels import list_labels
from db.lookups import find_item, find_job
from errors import DomainError
from ml.features import feature_sources
from ml.projection_results import (COLOURINGS, available_colourings, current_label_ids,
                                   feature_state, feature_values, finished_projections,
                                   heatmap, label_selection, load_projection, place_arrivals,
                                   placed_points, projection_title, save_selection, selection_items,
                                   summarize)
from ml.projection_start import open_or_start_projection
from ml.projection_view import View, view_after, view_from_list
from services import current_services

THUMBS_SHOWN = 48
DRAGMODES = ("lasso", "select", "zoom", "pan")  # of a 2-D plot, kept when it is drawn again
GALLERY_LINK_CLASS = "btn btn-outline-secondary btn-sm mb-3"
PANEL_CHANGED = JobsPanel.id(JobsPanel.CHANGED, ids.SCOPE)
PANEL_POLL = JobsPanel.id(JobsPanel.POLL, ids.SCOPE)
FIELDS = {name: {"type": name, "index": ALL}
          for name in (ids.PROJECTION_FIELD, ids.CLUSTER_FIELD, ids.IMAGE_FIELD)}


register_dataset_dropdown(ids.DATASET, ids.DATASET_REQUESTED)
register_jobs_filter(ids.SCOPE, ids.DATASET)


@callback(Output(ids.FEATURE_JOB, "options"), Output(ids.FEATURE_JOB, "value"),
          Output(ids.LABEL, "options"), Input(ids.DATASET, "value"))
def show_dataset(dataset_id):
    if dataset_id is None:
        return [], None, []
    with read_session() as session:
        sources = feature_sources(session, dataset_id)
        labels = list_labels(session, dataset_id)
    options = [{"label": source.title, "value": source.job_id} for source in sources]
    return (options, options[0]["value"] if options else None,
            [{"label": label.name, "value": str(label.id)} for label in labels])


@callback(Output({"type": ids.PROJECTION_GROUP, "index": ALL}, "style"),
          Input(ids.METHOD, "value"), State({"type": ids.PROJECTION_GROUP, "index": ALL}, "id"))
def show_projection_fields(method, group_ids):
    return shown_group(method, group_ids)


@callback(Output({"type": ids.CLUSTER_GROUP, "index": ALL}, "style"),
          Output(ids.CLUSTER_SPACE, "style"),
          Input(ids.CLUSTERING, "value"), State({"type": ids.CLUSTER_GROUP, "index": ALL}, "id"))
def show_cluster_fields(method, group_ids):
    return shown_group(method, group_ids), {"display": "none"} if method == "none" else None


def form_params(feature_job_id, method: str, components, projection_fields: tuple,
                clustering: str, space: str, cluster_fields: tuple,
                image_fields: tuple) -> dict[str, Any]:
    """The projection job's parameters the form describes (fields as (values, ids))."""
    params = {"feature_job_id": feature_job_id, "method": method,
              "n_components": components, **fields_of(method, *projection_fields),
              **{field["index"]: value for value, field in zip(*image_fields)}}
    if clustering and clustering != "none":
        params["clustering"] = {"method": clustering, "space": space,
                                "params": fields_of(clustering, *cluster_fields)}
    return params


def _start(dataset_id: int, params: dict) -> tuple[int, str]:
    services = current_services()
    return open_or_start_projection(services.celery(), services.session_factory,
                                    services.settings.artifacts_dir, dataset_id, params,
                                    tagger_or_default(None))


@callback(Output(ids.FEEDBACK, "children"), Output(ids.PENDING, "data"),
          Output(PANEL_CHANGED, "data", allow_duplicate=True),
          Input(ids.RUN, "n_clicks"), State(ids.DATASET, "value"),
          State(ids.FEATURE_JOB, "value"), State(ids.METHOD, "value"),
          State(ids.COMPONENTS, "value"),
          State(FIELDS[ids.PROJECTION_FIELD], "value"), State(FIELDS[ids.PROJECTION_FIELD], "id"),
          State(ids.CLUSTERING, "value"), State(ids.CLUSTER_SPACE, "value"),
          State(FIELDS[ids.CLUSTER_FIELD], "value"), State(FIELDS[ids.CLUSTER_FIELD], "id"),
          State(FIELDS[ids.IMAGE_FIELD], "value"), State(FIELDS[ids.IMAGE_FIELD], "id"),
          State(PANEL_CHANGED, "data"), prevent_initial_call=True)
@on_refusal(error_alert, no_update, no_update)
def compute(_clicks, dataset_id, feature_job_id, method, components, projection_values,
            projection_ids, clustering, space, cluster_values, cluster_ids, image_values,
            image_ids, changed):
    if dataset_id is None or feature_job_id is None:
        message = "Choose a data set with a finished autoencoder or classifier inference job."
        return dbc.Alert(message, color="warning", className="py-2"), no_update, no_update
    params = form_params(feature_job_id, method, components, (projection_values, projection_ids),
                         clustering, space, (cluster_values, cluster_ids),
                         (image_values, image_ids))
    job_id, message = _start(dataset_id, params)
    return (dbc.Alert(message, color="info", className="py-2", duration=8000), job_id,
            {"n": (changed or {}).get("n", 0) + 1, "select": job_id})


@callback(Output(ids.PROJECTION, "options"), Output(ids.PROJECTION, "value"),
          Output(ids.PENDING, "data", allow_duplicate=True),
          Input(ids.DATASET, "value"), Input(ids.PENDING, "data"),
          Input(PANEL_POLL, "n_intervals"), Input(PANEL_POLL, "disabled"),
          State(ids.REQUESTED, "data"), State(ids.PROJECTION, "value"),
          prevent_initial_call="initial_duplicate")
def list_projections(dataset_id, pending, _tick, _idle, requested, current):
    """The finished projections; a pending one opens as soon as it has finished (checked on
    the jobs panel's ticks, and when its polling stops because nothing runs any more)."""
    if dataset_id is None:
        return [], None, no_update
    with read_session() as session:
        jobs = finished_projections(session, dataset_id)
        pending_job = find_job(session, pending) if pending else None
        pending_done = pending_job is not None and pending_job.status in job_store.FINISHED
    options = [{"label": projection_title(job), "value": job.id} for job in jobs]
    listed = [job.id for job in jobs]
    if pending_done and pending in listed:
        return options, pending, None
    if ctx.triggered_id == ids.DATASET or current not in listed:
        wanted = (requested or {}).get("projection")
        current = wanted if wanted in listed else (listed[0] if listed else None)
    return options, current, None if pending_done else no_update


def _empty_figure(text: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(xaxis=dict(visible=False), yaxis=dict(visible=False),
                         plot_bgcolor="white", margin=dict(l=10, r=10, t=10, b=10),
                         annotations=[dict(text=text, showarrow=False, font=dict(size=14))])
    return figure


def _requested_items(requested: Optional[dict], dataset_id: int) -> list[int]:
    requested = requested or {}
    return requested.get("items", []) if requested.get("dataset") == dataset_id else []


def _colour_groups(session, projection, colour: str, rows: np.ndarray):
    """(codes, groups) of the points of ``rows`` for a colouring by group; (None, None)
    for one by value."""
    if colour in ("confidence", "error"):
        return None, None
    if colour == "cluster":
        codes = projection.clusters[rows]
        return codes, cluster_groups(codes)
    dataset_id = projection.job.dataset_id
    codes = current_label_ids(session, dataset_id, projection.item_ids[rows])
    labels = {label.id: (label.name, label.color)
              for label in list_labels(session, dataset_id, include_archived=True)}
    return codes, label_groups(codes, labels)


@dataclass(frozen=True)
class Shown:
    """How the page shows a projection: which part, up to how many points, and the drag
    mode the user chose."""
    view: Optional[View]  # None: all of it
    limit: int
    dragmode: str


def _plot(session, projection, arrivals, colour: str, highlight: np.ndarray,
          shown: Shown) -> Plot:
    """The projection's points and the ``arrivals`` placed on it, as they are drawn in
    the view: coloured points, or their density."""
    drawable = Drawable.of(projection.points, projection.item_ids, arrivals.item_ids,
                           arrivals.points)
    rows = rows_to_draw(drawable, shown.view, shown.limit)
    if rows is None:
        return density_plot(drawable, shown.view, shown.limit, revision=projection.job.id)
    own = rows[rows < drawable.fitted]
    codes, groups = _colour_groups(session, projection, colour, own)
    values = None if groups is not None else feature_values(session, projection, colour)[own]
    return points_plot(drawable, rows, codes, groups, values, COLOURINGS[colour],
                       revision=projection.job.id, highlight=highlight, view=shown.view)


def _coloured_figure(session, projection, arrivals, colour: str, highlight: np.ndarray,
                     shown: Shown) -> tuple[go.Figure, dict]:
    """The figure as ``shown``, and the store naming which item each of its points is, the
    feature rows it shows, what it draws (explorer_view.MODES), the view and the drag mode."""
    plot = _plot(session, projection, arrivals, colour, highlight, shown)
    if projection.points.shape[1] == 2:
        plot.figure.update_layout(dragmode=shown.dragmode)
    key = save_traces(projection.folder, plot.traces, arrivals.item_ids)
    return plot.figure, {"projection": projection.job.id, "traces": key,
                         "features": arrivals.feature_state, "mode": plot.mode,
                         "view": shown.view.as_list() if shown.view is not None else None,
                         "dragmode": shown.dragmode}


@dataclass(frozen=True)
class Drawn:
    projection: Any  # ml.projection_results.Projection
    arrivals: Any  # ml.projection_results.Arrivals
    colourings: list[str]
    colour: str  # the one used: "label" when the one asked for is not available
    figure: go.Figure
    plotted: dict  # the PLOTTED store


def draw_projection(session, job_id: int, colour: str, shown: Shown,
                    selection: Optional[dict] = None,
                    requested: Optional[dict] = None) -> Drawn:
    """Everything the plot shows of projection ``job_id`` as ``shown``: what the page does
    on opening, recolouring, a zoom or a pan (benchmarks/bench_explorer.py times it)."""
    projection = load_projection(session, job_id)
    colourings = available_colourings(session, projection)
    colour = colour if colour in colourings else "label"
    highlight = _highlighted(projection, selection, requested)
    arrivals = place_arrivals(session, projection)
    figure, plotted = _coloured_figure(session, projection, arrivals, colour, highlight, shown)
    return Drawn(projection, arrivals, colourings, colour, figure, plotted)


def _placed_note(arrivals):
    if arrivals.unplaced:
        return dbc.Alert(f"{arrivals.unplaced:,} items arrived after this projection was "
                         "computed, and its job saved no fitted transform: refit to place new "
                         "items (compute the projection again).", color="warning",
                         className="py-2 mt-2")
    if len(arrivals.item_ids):
        return html.Div(f"{len(arrivals.item_ids):,} items that arrived after the fit are "
                        "drawn as 'new (placed)', where the fitted projection places them.",
                        className="text-muted")
    return None


def _highlighted(projection, selection: Optional[dict], requested: Optional[dict]):
    """The items to show as selected: the current selection of this projection, or else
    the items the URL asked for."""
    if isinstance(selection, dict) and selection.get("projection") == projection.job.id:
        try:
            return selection_items(projection, selection.get("key"), selection.get("cluster"))
        except (DomainError, TypeError, ValueError):  # not a selection this page saved
            pass
    return np.asarray(_requested_items(requested, projection.job.dataset_id), dtype=np.int64)


def _after_relayout(relayout: Any, plotted: dict) -> tuple[dict, bool]:
    """(the store with the drag mode and view a relayout of its figure leaves, whether the
    figure must be drawn again: a zoom or pan must unless every point is drawn already).
    The drag mode is kept because a figure drawn again starts in its own one."""
    remembered = dict(plotted)
    if isinstance(relayout, dict) and relayout.get("dragmode") in DRAGMODES:
        remembered["dragmode"] = relayout["dragmode"]
    moved, view = view_after(relayout, view_from_list(plotted.get("view")))
    remembered["view"] = view.as_list() if view is not None else None
    return remembered, moved and plotted.get("mode") != "all"


@callback(Output(ids.GRAPH, "figure"), Output(ids.PLOTTED, "data"),
          Output(ids.COLOUR, "options"), Output(ids.COLOUR, "value"),
          Output(ids.CLUSTER, "options"), Output(ids.PLACED_NOTE, "children"),
          Input(ids.PROJECTION, "value"), Input(ids.COLOUR, "value"),
          Input(ids.REVISION, "data"), Input(ids.FEATURE_ROWS, "data"),
          Input(ids.GRAPH, "relayoutData"), Input(ids.POINTS_LIMIT, "value"),
          State(ids.REQUESTED, "data"), State(ids.SELECTION, "data"),
          State(ids.PLOTTED, "data"))
def show_projection(job_id, colour, _revision, _rows, relayout, limit, requested, selection,
                    plotted):
    """The projection's figure; a zoom or pan draws the view again (its points, or their
    density when more than the points limit are in it)."""
    if job_id is None:
        return (_empty_figure("Compute a projection, or open a stored one"), None,
                [{"label": COLOURINGS["label"], "value": "label"}], "label", [], None)
    # plotly's first relayout of the empty figure can come in one request with the new
    # projection: only a relayout on its own is a zoom or pan of the figure shown
    moved = set(ctx.triggered_prop_ids.values()) == {ids.GRAPH}
    remembered = plotted if _shows(plotted, job_id) else {}
    if moved:
        if not remembered:
            raise PreventUpdate  # an event of the figure before
        remembered, redraw = _after_relayout(relayout, plotted)
        if not redraw:
            if remembered == plotted:
                raise PreventUpdate
            return (no_update, remembered, *[no_update] * 4)
    dragmode = remembered.get("dragmode")  # the store comes back from the browser
    shown = Shown(view_from_list(remembered.get("view")), points_limit(limit),
                  dragmode if dragmode in DRAGMODES else "lasso")
    with read_session() as session:
        drawn = draw_projection(session, job_id, colour, shown, selection, requested)
    projection, arrivals, colour = drawn.projection, drawn.arrivals, drawn.colour
    figure, plotted, colourings = drawn.figure, drawn.plotted, drawn.colourings
    if moved:
        return (figure, plotted, *[no_update] * 4)
    clusters = [] if projection.clusters is None else [
        {"label": f"{'noise' if k < 0 else f'cluster {k}'} ({n:,})", "value": str(k)}
        for k, n in zip(*map(np.ndarray.tolist, np.unique(projection.clusters,
                                                          return_counts=True)))]
    return (figure, plotted, [{"label": COLOURINGS[c], "value": c} for c in colourings],
            colour, clusters, _placed_note(arrivals))


@callback(Output(ids.FEATURE_ROWS, "data"), Input(ids.ARRIVALS_POLL, "n_intervals"),
          State(ids.PROJECTION, "value"), State(ids.PLOTTED, "data"),
          prevent_initial_call=True)
@on_refusal(no_update)
def watch_arrivals(_tick, job_id, plotted):
    """Rows appended to the shown projection's feature job (items arrived on a live data
    set) redraw the plot; when none were, a tick costs a folder listing."""
    if not _shows(plotted, job_id):
        raise PreventUpdate
    with read_session() as session:
        state = feature_state(session, job_id)
    if state == plotted.get("features"):
        raise PreventUpdate
    return {"projection": job_id, "features": state}


def _event_items(projection, plotted: Optional[dict],
                 event: Optional[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(item ids of the points a graph event names, in the figure ``plotted`` describes;
    the ids of the items placed on it after the fit)."""
    traces, placed = load_traces(projection.folder, (plotted or {}).get("traces"))
    drawn = np.concatenate([projection.item_ids, placed])
    return drawn[event_rows(traces, event)], placed


def selected_items(projection, plotted: dict, selected: Any) -> tuple[np.ndarray, np.ndarray]:
    """(item ids the user selected, the ids of the items placed after the fit): over a
    density, those inside the drawn lasso or box by their stored coordinates; else the
    points plotly reports."""
    if plotted.get("mode") == "density":
        _traces, placed = load_traces(projection.folder, plotted.get("traces"))
        drawable = Drawable.of(projection.points, projection.item_ids, placed,
                               placed_points(projection, placed))
        inside = region_items(drawable, selected)
        if inside is not None:
            return inside, placed
    return _event_items(projection, plotted, selected)


def _drawn_by_user(selected: Any) -> bool:
    """Whether a graph's selectedData is the user's: plotly also reports an empty selection,
    with no region drawn, when it redraws the figure (after labeling, recolouring)."""
    if not isinstance(selected, dict):
        return selected is None  # a double click clears the selection
    return bool(selected.get("points")) or "range" in selected or "lassoPoints" in selected


def _shows(plotted: Optional[dict], job_id) -> bool:
    """Whether the drawn figure is the one of projection ``job_id`` (an event may come from
    the figure before)."""
    return job_id is not None and isinstance(plotted, dict) \
        and plotted.get("projection") == job_id


@callback(Output(ids.SELECTION, "data"), Output(ids.PLOT_FEEDBACK, "children"),
          Input(ids.GRAPH, "selectedData"), Input(ids.SELECT_CLUSTER, "n_clicks"),
          Input(ids.PROJECTION, "value"), State(ids.CLUSTER, "value"),
          State(ids.REQUESTED, "data"), State(ids.PLOTTED, "data"))
@on_refusal(no_update, error_alert)
def select(selected, _clicks, job_id, cluster, requested, plotted):
    """The selection as a small spec: a saved selection's key, or a cluster number."""
    if job_id is None:
        return None, None
    with read_session() as session:
        projection = load_projection(session, job_id)
    if ctx.triggered_id == ids.SELECT_CLUSTER:
        if cluster in (None, ""):
            raise PreventUpdate
        members = projection.cluster_items(int(cluster))
        return {"projection": job_id, "cluster": int(cluster), "count": len(members)}, None
    placed = np.empty(0, dtype=np.int64)
    if ctx.triggered_id == ids.GRAPH:
        if not _shows(plotted, job_id) or not _drawn_by_user(selected):
            raise PreventUpdate
        chosen, placed = selected_items(projection, plotted, selected)
    else:  # a projection opened: the items the URL asked for, if any
        chosen = _requested_items(requested, projection.job.dataset_id)
    return saved_selection(projection, chosen, placed), None


def saved_selection(projection, chosen: np.ndarray, placed: np.ndarray) -> Optional[dict]:
    """The selection store of the ``chosen`` items of the projection (or of the ``placed``
    ones), saved beside it; None when none is."""
    members = projection.members(chosen, placed)
    if len(members) == 0:
        return None
    return {"projection": projection.job.id, "key": save_selection(projection, members, placed),
            "count": int(len(members))}


def _selection(session, selection):
    """The projection and items the page's selection store names (a store sent by hand
    that names none is refused)."""
    if not isinstance(selection, dict):
        raise DomainError("the selection is not one this page saved; select again", "selection")
    projection = load_projection(session, selection.get("projection"), field="selection")
    return projection, selection_items(projection, selection.get("key"),
                                       selection.get("cluster"))


def gallery_href(projection, selection: dict) -> str:
    query = {"dataset": projection.job.dataset_id, "projection": projection.job.id}
    if selection.get("cluster") is not None:
        query["cluster"] = selection["cluster"]
    else:
        query["selection"] = selection["key"]
    return f"/label?{urlencode(query)}"


def _badges(counts: dict[int, int], names: dict[int, str], color: str):
    return [dbc.Badge(f"{names.get(code, code)}: {count:,}", color=color, className="me-1")
            for code, count in sorted(counts.items(), key=lambda pair: -pair[1])]


def _thumbs(projection, item_ids: np.ndarray):
    params = projection.job.params
    return [html.Img(src=thumbnail_url(int(i), 64, params["log"],
                                       (params["pmin"], params["pmax"]), "gray"),
                     title=f"item {i}", className="explorer-thumb", width=64, height=64)
            for i in item_ids[:THUMBS_SHOWN]]


@callback(Output(ids.SUMMARY, "children"), Output(ids.THUMBS, "children"),
          Output(ids.GALLERY_LINK, "href"), Output(ids.GALLERY_LINK, "className"),
          Input(ids.SELECTION, "data"), Input(ids.REVISION, "data"))
@on_refusal(error_alert, [], "", GALLERY_LINK_CLASS + " disabled")
def show_selection(selection, _revision):
    link_class = GALLERY_LINK_CLASS
    if not selection:
        return ("Nothing selected.", [], "", link_class + " disabled")
    with read_session() as session:
        projection, item_ids = _selection(session, selection)
        summary = summarize(session, projection, item_ids)
        names = {label.id: label.name for label in
                 list_labels(session, projection.job.dataset_id, include_archived=True)}
    clusters = {code: "noise" if code < 0 else f"cluster {code}" for code in summary.per_cluster}
    more = summary.count - min(summary.count, THUMBS_SHOWN)
    text = [html.Div(f"{summary.count:,} items selected"
                     + (f" (cluster {selection['cluster']})"
                        if selection.get("cluster") is not None else ""),
                     className="fw-semibold", id="explorer-count"),
            html.Div(["labels: ",
                      *_badges(summary.per_label, {-1: "unlabeled", **names}, "secondary")],
                     className="mt-1"),
            html.Div(["clusters: ", *_badges(summary.per_cluster, clusters, "info")],
                     className="mt-1") if summary.per_cluster else None,
            html.Div(f"{summary.arrived:,} of them arrived after the fit (new, placed)",
                     className="mt-1") if summary.arrived else None]
    thumbs = _thumbs(projection, item_ids) + (
        [html.Div(f"and {more:,} more", className="small text-muted")] if more else [])
    return text, thumbs, gallery_href(projection, selection), link_class


def heatmap_title(found, statistic: str) -> str:
    """What the heat map shows: of a data set's sample of images, how many of the selected
    items it counts."""
    what = "mean" if statistic == "mean" else "standard deviation"
    if not found.sampled:
        return f"{what} of {found.stats.count:,} images"
    return f"{what} of {found.stats.count:,} of {found.selected:,} selected (sample)"


@callback(Output(ids.HEATMAP, "figure"), Input(ids.SELECTION, "data"),
          Input(ids.STATISTIC, "value"))
@on_refusal(lambda error: _empty_figure(str(error)))
def show_heatmap(selection, statistic):
    if not selection:
        return _empty_figure("the mean image of a selection shows here")
    with read_session() as session:
        projection, item_ids = _selection(session, selection)
        found = heatmap(session, projection, item_ids)
    image = found.stats.mean if statistic == "mean" else found.stats.std
    figure = go.Figure(go.Heatmap(z=image, colorscale="Viridis",
                                  colorbar=dict(thickness=10)))
    title = heatmap_title(found, statistic)
    figure.update_layout(margin=dict(l=10, r=10, t=30, b=10), title=dict(text=title, x=0.02,
                                                                         font=dict(size=12)))
    figure.update_xaxes(visible=False, constrain="domain")
    figure.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return figure


@callback(Output(ids.LABEL_FEEDBACK, "children"), Output(ids.REVISION, "data"),
          Input(ids.APPLY_LABEL, "n_clicks"), State(ids.SELECTION, "data"),
          State(ids.LABEL, "value"), State(ids.REVISION, "data"), prevent_initial_call=True)
@on_refusal(error_alert, no_update)
def label(_clicks, selection, label_id, revision):
    if not selection or not label_id:
        message = "Select points and a label class first."
        return dbc.Alert(message, color="warning", className="py-2"), no_update
    with write_session() as session:
        projection, item_ids = _selection(session, selection)
        event, plan = label_selection(session, projection, item_ids, int(label_id),
                                      tagger_or_default(None), selection.get("cluster"))
    kept = plan.labeled - plan.agreeing
    message = (f"Labeled {event.n_tags:,} items in one event (#{event.id})." if event
               else "Nothing to label: every selected item carries a label already.")
    if kept:
        message += f" {kept:,} labeled items kept their other label."
    return (dbc.Alert(message, color="success", className="py-2", duration=6000),
            (revision or 0) + 1)


def _hovered_point(hover: Optional[dict]) -> Optional[dict]:
    """The first point of a hover event, when it has the box the tooltip points at."""
    points = (hover or {}).get("points") if isinstance(hover, dict) else None
    point = points[0] if isinstance(points, list) and points else None
    bbox = point.get("bbox") if isinstance(point, dict) else None
    if not isinstance(bbox, dict) or not all(
            isinstance(bbox.get(side), (int, float)) for side in ("x0", "x1", "y0", "y1")):
        return None
    return {**point, "bbox": {side: bbox[side] for side in ("x0", "x1", "y0", "y1")}}


@callback(Output(ids.TOOLTIP, "show"), Output(ids.TOOLTIP, "bbox"),
          Output(ids.TOOLTIP, "children"), Input(ids.GRAPH, "hoverData"),
          State(ids.PROJECTION, "value"), State(ids.PLOTTED, "data"))
@on_refusal(False, no_update, no_update)
def show_hovered(hover, job_id, plotted):
    point = _hovered_point(hover)
    if point is None or not _shows(plotted, job_id):
        return False, no_update, no_update
    with read_session() as session:
        projection = load_projection(session, job_id)
        hovered, _placed = _event_items(projection, plotted, {"points": [point]})
        if len(hovered) == 0:
            return False, no_update, no_update
        item_id = int(hovered[0])
        item = find_item(session, item_id)
        uri = item.uri if item is not None else f"item {item_id}"
        params = projection.job.params
    image = html.Img(src=thumbnail_url(item_id, 128, params["log"],
                                       (params["pmin"], params["pmax"]), "gray"),
                     width=128, height=128)
    return True, point["bbox"], [image, html.Div(uri, className="small text-muted")]


@callback(Output(ids.FROM_GALLERY, "href"), Input(Label.SELECTION, "data"),
          Input(Label.PAGE_ITEMS, "data"), State(Label.DATASET, "value"))
def gallery_items_in_explorer(selection, page_items, dataset_id):
    """The label page's link: its selected tiles (or else its page) in the explorer."""
    items = selection or page_items or []
    if dataset_id is None:
        return "/explorer"
    query = {"dataset": dataset_id, "items": ",".join(str(i) for i in items)}
    return f"/explorer?{urlencode(query)}"
