"""Behaviour of the labeling page's similarity mode: the query (selected tiles), the
batch a label gives to the page, the top k or everything within a distance, and how well
the chosen feature source separates the labels so far. Thin adapters to ml.rankings."""
from __future__ import annotations

from collections import Counter

from dash import Input, Output, State, callback, ctx, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.common import (error_alert, muted, note, on_refusal, percent, read_session,
                              tagger_or_default, write_session)
from callbacks.guided_order import CHOSEN_MATCH, match_of
from callbacks.ids import Label as ids
from db import guided
from db.labels import list_labels
from errors import DomainError
from ml import features, rankings
from ml.collapse import collapse_warning
from services import current_services

DEFAULT_PAGE = 48  # the cutoff proposed for a query reaches this many nearest items


def _default_label(session, dataset_id, query):
    """The batch label most query items carry."""
    labeled = [row.label_id for row in guided.items_in_order(session, dataset_id, query)
               if row.label_id is not None]
    return str(Counter(labeled).most_common(1)[0][0]) if labeled else no_update


def _default_cutoff(session, dataset_id, feature_job, query, match):
    """The distance of the DEFAULT_PAGE-th nearest unlabeled item by the match rule (the
    panel's choice; the labels' one by default): a default taken from the data, not a
    fixed number."""
    if feature_job is None:
        return no_update
    ranking = rankings.similar(session, current_services().feature_indexes, dataset_id,
                               feature_job, query, True, DEFAULT_PAGE, match=match_of(match))
    return round(float(ranking.distances[-1]) + 5e-4, 3) if len(ranking.distances) \
        else no_update


@callback(Output(ids.MATCH, "options"),
          Input(ids.FEATURE_JOB, "value"), Input(ids.REVISION, "data"),
          Input(ids.MODE, "value"), State(ids.DATASET, "value"), State(ids.MATCH, "options"))
@on_refusal(no_update)
def name_chosen_match(feature_job, _revision, mode, dataset_id, options):
    """The first match choice names the rule the labels so far favour on the feature
    source, worked out again when the labels change: a default taken from the data."""
    if mode != "similarity" or dataset_id is None or not options:
        raise PreventUpdate
    label = "chosen from the labels"
    if feature_job is not None:
        with read_session() as session:
            choice = rankings.match_choice(session, current_services().feature_indexes,
                                           dataset_id, feature_job)
        label += f" (now: {choice.match})"
    return [{**option, "label": label} if option["value"] == CHOSEN_MATCH else option
            for option in options]


@callback(Output(ids.QUERY, "data"), Output(ids.QUERY_INFO, "children"),
          Output(ids.BATCH_LABEL, "value", allow_duplicate=True),
          Output(ids.CUTOFF, "value"),
          Input(ids.USE_SELECTION, "n_clicks"), Input(ids.DATASET, "value"),
          State(ids.SELECTION, "data"), State(ids.FEATURE_JOB, "value"),
          State(ids.MATCH, "value"), prevent_initial_call=True)
@on_refusal(no_update, error_alert, no_update, no_update)
def use_selection(_clicks, dataset_id, selection, feature_job, match):
    if ctx.triggered_id != ids.USE_SELECTION:
        return [], "no query: select tiles, then use them as the query", no_update, no_update
    if not selection:
        return no_update, "select one or more tiles first", no_update, no_update
    query = list(selection)
    with read_session() as session:
        label = _default_label(session, dataset_id, query)
        cutoff = _default_cutoff(session, dataset_id, feature_job, query, match)
    return query, f"query: {len(query)} item{'s' * (len(query) != 1)}", label, cutoff


@callback(Output(ids.CUTOFF, "value", allow_duplicate=True),
          Input(ids.MATCH, "value"), State(ids.QUERY, "data"), State(ids.FEATURE_JOB, "value"),
          State(ids.DATASET, "value"), prevent_initial_call=True)
@on_refusal(no_update)
def cutoff_for_match(match, query, feature_job, dataset_id):
    """Another match rule moves the proposed cutoff with the distances it measures."""
    if not query:
        raise PreventUpdate
    with read_session() as session:
        return _default_cutoff(session, dataset_id, feature_job, query, match)


@callback(Output(ids.FEATURE_CHECK, "children"),
          Input(ids.FEATURE_JOB, "value"), Input(ids.REVISION, "data"),
          Input(ids.MODE, "value"), State(ids.DATASET, "value"))
@on_refusal(muted)
def check_features(feature_job, _revision, mode, dataset_id):
    """A warning when the feature source cannot separate what has been labeled."""
    if mode != "similarity" or feature_job is None or dataset_id is None:
        raise PreventUpdate
    with read_session() as session:
        collapsed = collapse_warning(features.feature_job(session, feature_job, dataset_id).result)
        if collapsed:
            return html.Span(collapsed, className="text-warning")
        check = rankings.feature_separation(session, dataset_id, feature_job)
    if check.agreement is None:
        return html.Span(f"{check.labeled} labels: too few to tell how well this source "
                         "separates your classes", className="text-muted")
    text = (f"on your {check.labeled:,} labels, {percent(check.agreement)} of each item's "
            f"10 nearest labeled neighbours share its label (chance: {percent(check.chance)})")
    if check.separates:
        return html.Span(text, className="text-muted")
    return html.Span(f"{text}: this source barely separates your classes, so its similarity "
                     "pages will be mixed; try another feature source", className="text-warning")


def _similarity_batch(session, guided_spec, label_id, scope, top_k, cutoff, page_items,
                      dataset_id, tagger, dry_run):
    if not guided_spec or guided_spec["kind"] != "similarity":
        raise DomainError("choose a feature source and a query first", "query_item_ids")
    if label_id is None:
        raise DomainError("choose the label the batch gives", "label_id")
    return rankings.similarity_batch(
        session, current_services().feature_indexes, dataset_id, tagger, guided_spec["job_id"],
        guided_spec["query"], int(label_id), scope, int(top_k) if top_k else None,
        float(cutoff) if cutoff is not None else None, page_items or [],
        guided_spec["unlabeled_only"], overwrite=False, dry_run=dry_run,
        match=guided_spec["match"])


def _batch_text(plan, label_name: str) -> str:
    text = f"{len(plan.item_ids):,} chosen: {len(plan.to_label):,} get '{label_name}'"
    if plan.labeled:
        text += (f"; {plan.labeled:,} already labeled keep their label, {plan.agreeing:,} of "
                 f"them agree ({percent(plan.agreement)})")
    return text


def _label_name(session, dataset_id, label_id) -> str:
    names = {label.id: label.name for label in list_labels(session, dataset_id)}
    return names.get(int(label_id), "?") if label_id is not None else "?"


@callback(Output(ids.BATCH_PREVIEW, "children"),
          Input(ids.BATCH_LABEL, "value"), Input(ids.BATCH_SCOPE, "value"),
          Input(ids.TOP_K, "value"), Input(ids.CUTOFF, "value"),
          Input(ids.GUIDED_ORDER, "data"), Input(ids.PAGE_ITEMS, "data"),
          Input(ids.REVISION, "data"), State(ids.DATASET, "value"), State(ids.MODE, "value"))
@on_refusal(muted)
def preview_batch(label_id, scope, top_k, cutoff, guided_spec, page_items, _revision,
                  dataset_id, mode):
    if mode != "similarity" or dataset_id is None:
        raise PreventUpdate
    with read_session() as session:
        result = _similarity_batch(session, guided_spec, label_id, scope, top_k, cutoff,
                                   page_items, dataset_id, "preview", dry_run=True)
        return _batch_text(result.plan, _label_name(session, dataset_id, label_id))


@callback(Output(ids.REVISION, "data", allow_duplicate=True),
          Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Input(ids.BATCH_APPLY, "n_clicks"),
          State(ids.BATCH_LABEL, "value"), State(ids.BATCH_SCOPE, "value"),
          State(ids.TOP_K, "value"), State(ids.CUTOFF, "value"), State(ids.GUIDED_ORDER, "data"),
          State(ids.PAGE_ITEMS, "data"), State(ids.DATASET, "value"), State(ids.TAGGER, "value"),
          State(ids.REVISION, "data"), prevent_initial_call=True)
@on_refusal(no_update, error_alert)
def apply_batch(_clicks, label_id, scope, top_k, cutoff, guided_spec, page_items, dataset_id,
                tagger, revision):
    with write_session() as session:
        result = _similarity_batch(session, guided_spec, label_id, scope, top_k, cutoff,
                                   page_items, dataset_id, tagger_or_default(tagger),
                                   dry_run=False)
    if result.event is None:
        return no_update, note("Nothing to label: every chosen item already has a label.",
                               "warning")
    return (revision or 0) + 1, note(f"Labeled {result.event.n_tags:,} items by similarity "
                                     f"(event {result.event.id}).")
