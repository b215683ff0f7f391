"""Behaviour of the label page's suggestion review: the gallery shows the unlabeled items a
model of the labels so far is surest of (of any class, grouped by class on each page,
unless one class is chosen), each tile with its suggestion; the user corrects the odd ones
with their hotkeys and accepts the rest, each with the suggestion its tile shows, with one
key (y) or the button. Thin adapters to ml.rankings. The retrain loop's controls:
label_retrain_loop.py."""
from __future__ import annotations

from collections import Counter

from dash import Input, Output, State, callback, ctx, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.common import (error_alert, kept_choice, note, on_refusal, percent, read_session,
                              tagger_or_default, write_session)
from callbacks.guided_order import suggestion_page
from callbacks.ids import Label as ids
from db.labels import list_labels
from errors import DomainError
from ml import rankings
from ml.features import feature_sources
from services import current_services

BEST = "best"
TYPICAL = "typical"  # typical items not labeled yet: examples of classes with few labels
LOOP_MARK = " · kept fresh by the retrain loop"
# Below this held-out accuracy the features hardly separate the classes labeled so far.
WEAK_ACCURACY = 0.7


@callback(Output(ids.SUGGESTION_PANEL, "style"), Input(ids.MODE, "value"))
def show_panel(mode):
    return {} if mode == "suggestions" else {"display": "none"}


@callback(Output(ids.SUGGESTION_JOB, "options"), Output(ids.SUGGESTION_JOB, "value"),
          Output(ids.SUGGESTION_LABEL, "options"), Output(ids.LOOP_FOLLOWED, "data"),
          Input(ids.DATASET, "value"), Input(ids.MODE, "value"), Input(ids.CLASSES, "children"),
          Input(ids.LOOP_STATE, "data"),
          State(ids.SUGGESTION_JOB, "value"), State(ids.LOOP_FOLLOWED, "data"))
def list_choices(dataset_id, mode, _classes, loop, job_id, followed):
    """The feature sources and classes. While the retrain loop is on, each new model of the
    loop becomes the source; the user may choose another until the next one comes."""
    if dataset_id is None or mode != "suggestions":
        raise PreventUpdate
    loop_job = loop["source_job_id"] if loop and loop["enabled"] else None
    if ctx.triggered_id == ids.LOOP_STATE and loop_job == followed:
        raise PreventUpdate  # no new model: the source and the gallery stay as they are
    with read_session() as session:
        sources = feature_sources(session, dataset_id)
        labels = list_labels(session, dataset_id)
    jobs = [{"label": source.title + (LOOP_MARK if source.job_id == loop_job else ""),
             "value": source.job_id} for source in sources]
    classes = [{"label": "the next page to review", "value": BEST},
               {"label": "typical items not labeled yet", "value": TYPICAL},
               *({"label": label.name, "value": str(label.id)} for label in labels)]
    offered = [job["value"] for job in jobs]
    new_model = loop_job in offered and loop_job != followed
    return jobs, loop_job if new_model else kept_choice(job_id, jobs), classes, loop_job


@callback(Output(ids.GUIDED_ORDER, "data", allow_duplicate=True),
          Input(ids.MODE, "value"), Input(ids.SUGGESTION_JOB, "value"),
          Input(ids.SUGGESTION_LABEL, "value"), Input(ids.PAGE_SIZE, "value"),
          Input(ids.SORT, "value"), State(ids.DATASET, "value"), prevent_initial_call=True)
def choose_order(mode, job_id, label_choice, page_size, sort, dataset_id):
    """The suggestion review's order: surest first, or (sorting newest first) the newest
    unlabeled items, each with its suggestion, to follow a live data set."""
    if mode != "suggestions":
        raise PreventUpdate
    if dataset_id is None or job_id is None:
        return None
    if label_choice == TYPICAL:
        return {"kind": "typical", "job_id": job_id, "page_size": int(page_size)}
    return {"kind": "suggestions", "job_id": job_id, "page_size": int(page_size),
            "label_id": None if label_choice in (None, BEST) else int(label_choice),
            "newest": sort == "newest"}


@callback(Output(ids.SUGGESTION_INFO, "children"),
          Input(ids.GUIDED_ORDER, "data"), Input(ids.REVISION, "data"),
          State(ids.DATASET, "value"))
@on_refusal(error_alert)
def describe_model(spec, _revision, dataset_id):
    """How far the suggestions can be trusted: held-out accuracy, the page's precision."""
    if not spec or spec.get("kind") != "suggestions":
        return None
    with read_session() as session:
        page = suggestion_page(session, dataset_id, spec, spec["page_size"])
        unlabeled_classes = [label.name for label in list_labels(session, dataset_id)
                             if label.id not in set(page.model.label_ids.tolist())]
    model, accuracy = page.model, page.model.held_out_accuracy
    parts = [f"learnt from {model.labels_used:,} labels"]
    if accuracy is not None:
        parts.append(f"right on {percent(accuracy)} of them when each is held out")
    precision = page.expected_precision
    if not spec.get("newest"):  # the precision is of the surest page, not of the newest
        parts.append(f"this page: expected precision {percent(precision)}"
                     if precision is not None
                     else "this page: precision cannot be estimated yet (label more by hand)")
    weak = accuracy is not None and accuracy < WEAK_ACCURACY
    warning = (html.Div("These features hardly separate the classes labeled so far: try "
                        "another feature source, or label more by hand.",
                        className="text-warning") if weak else None)
    return [html.Span(" · ".join(parts), className="text-muted"), warning,
            _unsuggested_classes(unlabeled_classes)]


def _unsuggested_classes(names: list[str]):
    """A note naming the classes without labels: no suggestion can propose them."""
    if not names:
        return None
    return html.Div(f"No labels yet for {', '.join(names)}: no suggestion proposes "
                    "them. Choose 'typical items not labeled yet' and label a few of them by "
                    "hand.", className="text-warning")


@callback(Output(ids.REVISION, "data", allow_duplicate=True),
          Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Input(ids.SUGGESTION_ACCEPT, "n_clicks"), Input(ids.ACCEPT_KEY, "data"),
          State(ids.GUIDED_ORDER, "data"), State(ids.PAGE_SUGGESTIONS, "data"),
          State(ids.DATASET, "value"), State(ids.TAGGER, "value"), State(ids.REVISION, "data"),
          prevent_initial_call=True)
@on_refusal(no_update, error_alert)
def accept_page(_clicks, _key, spec, page_suggestions, dataset_id, tagger, revision):
    if not spec or spec.get("kind") != "suggestions":
        if ctx.triggered_id == ids.ACCEPT_KEY:
            raise PreventUpdate  # the key means nothing outside the suggestion review
        if spec and spec.get("kind") == "typical":
            raise DomainError("typical items carry no suggestion to accept: label them by "
                              "hand with the class hotkeys", "label")
        raise DomainError("choose the Suggestions mode and a feature source first", "mode")
    if not page_suggestions:
        raise DomainError("nothing is suggested on this page", "item_ids")
    try:
        label_of = {int(item): int(label) for item, label in page_suggestions.items()}
    except (AttributeError, TypeError, ValueError):
        raise DomainError("this page's suggestions are unreadable: reload the page",
                          "item_ids") from None
    with write_session() as session:
        batch = rankings.suggestion_batch(
            session, current_services().feature_indexes, dataset_id, tagger_or_default(tagger),
            spec["job_id"], label_of, dry_run=False)
        names = {label.id: label.name for label in list_labels(session, dataset_id, True)}
    plan = batch.result.plan
    given = Counter(plan.label_of[item] for item in plan.to_label)
    parts = ", ".join(f"{count} '{names.get(label, '?')}'" for label, count in given.items())
    count = len(plan.to_label)
    return revision + 1, note(f"Accepted {count} suggestion{'s' * (count != 1)}"
                              + (f": {parts}." if parts else "."))
