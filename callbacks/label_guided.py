"""Behaviour of the labeling page's guided modes: the order each mode sets, probability
thresholds with the active-learning order, review (suspected mistakes, validation
checkpoints) and the efficiency panel (similarity batches: label_similarity.py;
suggestions: label_suggestions.py). Thin adapters to ml.rankings and db.guided."""
from __future__ import annotations

from datetime import datetime

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.common import (clicked_index, error_alert, kept_choice, muted, note, on_refusal,
                              percent, read_session, tagger_or_default, write_session)
from callbacks.guided_order import match_of
from callbacks.ids import Label as ids
from callbacks.label_actions import label_of_action, read_action
from db import guided
from db.labels import list_labels
from db.store import TagIn, apply_event
from errors import DomainError
from ml import rankings
from ml.features import feature_sources

SHOWN = {}
HIDDEN = {"display": "none"}
PANELS = ("similarity", "probability", "review")


@callback(Output(ids.SIMILARITY_PANEL, "style"), Output(ids.PROBABILITY_PANEL, "style"),
          Output(ids.REVIEW_PANEL, "style"), Output(f"{ids.CLASSIFIER_JOB}-row", "style"),
          Input(ids.MODE, "value"))
def show_panels(mode):
    styles = [SHOWN if mode == panel else HIDDEN for panel in PANELS]
    return *styles, SHOWN if mode in ("probability", "review") else HIDDEN


@callback(Output(ids.FEATURE_JOB, "options"), Output(ids.FEATURE_JOB, "value"),
          Output(ids.CLASSIFIER_JOB, "options"), Output(ids.CLASSIFIER_JOB, "value"),
          Input(ids.DATASET, "value"), Input(ids.MODE, "value"),
          State(ids.FEATURE_JOB, "value"), State(ids.CLASSIFIER_JOB, "value"))
def list_jobs(dataset_id, _mode, feature_job, classifier_job):
    if dataset_id is None:
        return [], None, [], None
    with read_session() as session:
        sources = feature_sources(session, dataset_id)
    features = [{"label": s.title, "value": s.job_id} for s in sources]
    classifiers = [{"label": s.title, "value": s.job_id} for s in sources if s.has_probabilities]
    return (features, kept_choice(feature_job, features), classifiers,
            kept_choice(classifier_job, classifiers))


@callback(Output(ids.BATCH_LABEL, "options"), Output(ids.BATCH_LABEL, "value"),
          Output(ids.PROBABILITY_LABEL, "options"), Output(ids.PROBABILITY_LABEL, "value"),
          Input(ids.DATASET, "value"), Input(ids.CLASSES, "children"),
          State(ids.BATCH_LABEL, "value"), State(ids.PROBABILITY_LABEL, "value"))
def list_label_choices(dataset_id, _classes, batch_label, probability_label):
    if dataset_id is None:
        return [], None, [], None
    with read_session() as session:
        options = [{"label": label.name, "value": str(label.id)}
                   for label in list_labels(session, dataset_id)]
    return (options, kept_choice(batch_label, options), options,
            kept_choice(probability_label, options))


# Once shown, the items a threshold would label follow these choices.
THRESHOLD_CHOICES = (ids.CLASSIFIER_JOB, ids.PROBABILITY_LABEL, ids.THRESHOLD, ids.OVERWRITE)


def _probability_order(classifier_job, uncertainty_method, threshold_choice, current):
    """The items a threshold would label once asked for, else the active-learning order."""
    trigger = ctx.triggered_id
    showing = current and current["kind"] == "threshold"
    if trigger == ids.SHOW_THRESHOLD_ITEMS or (showing and trigger in THRESHOLD_CHOICES):
        label_id, threshold, overwrite = threshold_choice
        return {"kind": "threshold", "job_id": classifier_job,
                "label_id": None if label_id is None else int(label_id),
                "threshold": float(threshold), "overwrite": bool(overwrite)}
    if trigger in THRESHOLD_CHOICES[1:]:
        return current
    if classifier_job is None or uncertainty_method in (None, "none"):
        return None
    return {"kind": "uncertainty", "job_id": classifier_job, "method": uncertainty_method}


def _order_spec(mode, similarity_choice, classifier_job, uncertainty_method,
                threshold_choice, min_confidence, checkpoint_size, dataset_id, current):
    trigger = ctx.triggered_id
    if current and current["kind"] == "explorer" and mode == "manual" \
            and trigger != ids.MODE and current["dataset_id"] == dataset_id:
        return current  # a selection opened from the explorer stays until the mode changes
    if mode == "similarity":
        feature_job, query, match, unlabeled_only = similarity_choice
        if feature_job is None or not query:
            return None
        return {"kind": "similarity", "job_id": feature_job, "query": query,
                "match": match_of(match), "unlabeled_only": bool(unlabeled_only)}
    if mode == "probability":
        return _probability_order(classifier_job, uncertainty_method, threshold_choice, current)
    if mode != "review":
        return None
    if trigger == ids.SHOW_MISTAKES or (trigger == ids.CLASSIFIER_JOB and current
                                        and current["kind"] == "mistakes"):
        if classifier_job is None:
            return {"kind": "mistakes", "job_id": None, "min_confidence": 0.9}
        return {"kind": "mistakes", "job_id": classifier_job,
                "min_confidence": float(min_confidence if min_confidence is not None else 0.9)}
    if trigger == ids.START_CHECKPOINT:
        with read_session() as session:
            sample = guided.validation_sample(session, dataset_id, int(checkpoint_size or 20))
        return {"kind": "checkpoint", "items": sample, "answers": {}}
    # a new mode or data set starts from the plain gallery; other inputs belong to other modes
    return None if trigger in (ids.MODE, ids.DATASET) else current


@callback(Output(ids.GUIDED_ORDER, "data"),
          Output(ids.CHECKPOINT_RESULT, "children", allow_duplicate=True),
          Input(ids.MODE, "value"), Input(ids.FEATURE_JOB, "value"), Input(ids.QUERY, "data"),
          Input(ids.MATCH, "value"), Input(ids.UNLABELED_ONLY, "value"),
          Input(ids.CLASSIFIER_JOB, "value"),
          Input(ids.UNCERTAINTY, "value"), Input(ids.SHOW_MISTAKES, "n_clicks"),
          Input(ids.START_CHECKPOINT, "n_clicks"), Input(ids.DATASET, "value"),
          Input(ids.SHOW_THRESHOLD_ITEMS, "n_clicks"), Input(ids.PROBABILITY_LABEL, "value"),
          Input(ids.THRESHOLD, "value"), Input(ids.OVERWRITE, "value"),
          State(ids.MIN_CONFIDENCE, "value"), State(ids.CHECKPOINT_SIZE, "value"),
          State(ids.GUIDED_ORDER, "data"), prevent_initial_call=True)
@on_refusal(None, error_alert)
def choose_order(mode, feature_job, query, match, unlabeled_only, classifier_job,
                 uncertainty_method, _mistakes, _checkpoint, dataset_id, _show_threshold_items,
                 probability_label, threshold, overwrite, min_confidence, checkpoint_size,
                 current):
    if dataset_id is None:
        return None, None
    if mode == "suggestions":  # its order comes from callbacks/label_suggestions.py
        raise PreventUpdate
    spec = _order_spec(mode, (feature_job, query, match, unlabeled_only), classifier_job,
                       uncertainty_method, (probability_label, threshold, overwrite),
                       min_confidence, checkpoint_size, dataset_id, current)
    if spec and spec["kind"] == "checkpoint" and not spec["items"]:
        return None, note("Nothing is labeled yet: a checkpoint re-labels labeled items.",
                          "warning")
    # A checkpoint's score stays until another checkpoint, mode or data set: the other
    # inputs also fire after labels are written, which must not wipe what was just scored.
    result = no_update
    if ctx.triggered_id == ids.START_CHECKPOINT:
        result = note("Label the items shown (hotkeys or class buttons), then score the "
                      "checkpoint.", "info")
    elif ctx.triggered_id in (ids.MODE, ids.DATASET):
        result = None
    return (no_update if spec == current else spec), result


# --- probability thresholds -----------------------------------------------------------------

def _probability_batch(session, dataset_id, tagger, classifier_job, label_id, threshold,
                       overwrite, dry_run):
    if classifier_job is None:
        raise DomainError("choose a classifier inference job (run classifier_infer first)",
                          "inference_job_id")
    return rankings.probability_batch(session, dataset_id, tagger, classifier_job,
                                      None if label_id is None else int(label_id),
                                      float(threshold), bool(overwrite), dry_run)


def _labels_kept_or_changed(plan, overwrite):
    """How many labels the batch changes, or keeps because overwrite is not ticked."""
    if not plan.disagreeing:
        return ""
    if overwrite:
        return f", relabeling {plan.disagreeing:,} labeled otherwise"
    return f"; labeled otherwise, so kept: {plan.disagreeing:,} (tick overwrite to relabel)"


def _precision_note(check):
    """The precision on held-out hand labels, or why there is none and what gives one."""
    if check.precision is not None:
        return (f"Precision {percent(check.precision)} ({check.correct} of "
                f"{check.held_out_above} hand labels the classifier did not train on)")
    return (f"No precision estimate: it needs {guided.MIN_HELD_OUT} hand labels the "
            f"classifier did not train on at this probability or above, and there are "
            f"{check.held_out_above}; show these items and label a few of them by hand")


@callback(Output(ids.PROBABILITY_PREVIEW, "children"),
          Input(ids.CLASSIFIER_JOB, "value"), Input(ids.PROBABILITY_LABEL, "value"),
          Input(ids.THRESHOLD, "value"), Input(ids.OVERWRITE, "value"),
          Input(ids.REVISION, "data"), Input(ids.MODE, "value"), State(ids.DATASET, "value"))
@on_refusal(muted)
def preview_probability(classifier_job, label_id, threshold, overwrite, _revision, mode,
                        dataset_id):
    if mode != "probability" or dataset_id is None:
        raise PreventUpdate
    with read_session() as session:
        result = _probability_batch(session, dataset_id, "preview", classifier_job, label_id,
                                    threshold, overwrite, dry_run=True)
    return (f"{len(result.plan.to_label):,} items would be labeled"
            f"{_labels_kept_or_changed(result.plan, overwrite)}. "
            f"{_precision_note(result.check)}")


@callback(Output(ids.REVISION, "data", allow_duplicate=True),
          Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Input(ids.PROBABILITY_APPLY, "n_clicks"),
          State(ids.CLASSIFIER_JOB, "value"), State(ids.PROBABILITY_LABEL, "value"),
          State(ids.THRESHOLD, "value"), State(ids.OVERWRITE, "value"),
          State(ids.DATASET, "value"), State(ids.TAGGER, "value"), State(ids.REVISION, "data"),
          prevent_initial_call=True)
@on_refusal(no_update, error_alert)
def apply_probability(_clicks, classifier_job, label_id, threshold, overwrite, dataset_id,
                      tagger, revision):
    with write_session() as session:
        result = _probability_batch(session, dataset_id, tagger_or_default(tagger),
                                    classifier_job, label_id, threshold, overwrite,
                                    dry_run=False)
    if result.event is None:
        return no_update, note("Nothing to label at this threshold.", "warning")
    return (revision or 0) + 1, note(f"Labeled {result.event.n_tags:,} items at probability "
                                     f"≥ {threshold} (event {result.event.id}).")


# --- review: validation checkpoints ---------------------------------------------------------

@callback(Output(ids.GUIDED_ORDER, "data", allow_duplicate=True),
          Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Input(ids.KEY, "data"), Input({"type": ids.LABEL_BUTTON, "index": ALL}, "n_clicks"),
          Input(ids.UNLABEL, "n_clicks"),
          State(ids.SELECTION, "data"), State(ids.GUIDED_ORDER, "data"),
          State(ids.DATASET, "value"), prevent_initial_call=True)
@on_refusal(no_update, error_alert)
def answer_checkpoint(key_press, label_clicks, _unlabel, selection, guided_spec, dataset_id):
    if not guided_spec or guided_spec["kind"] != "checkpoint" or ctx.triggered_id is None:
        raise PreventUpdate
    if isinstance(ctx.triggered_id, dict) and not any(label_clicks):
        raise PreventUpdate  # the class buttons were just re-drawn
    action, argument = read_action(ctx.triggered_id, key_press)
    if action == "undo":
        raise PreventUpdate
    if not selection:
        return no_update, note("Select tiles first, then give their label.", "warning")
    with read_session() as session:
        label_id = label_of_action(session, dataset_id, action, argument)
    answers = dict(guided_spec["answers"])
    for item in selection:
        if label_id is None:
            answers.pop(str(item), None)
        else:
            answers[str(item)] = label_id
    return {**guided_spec, "answers": answers}, no_update


def _disagreement_row(item, stored, given, names, uris):
    return html.Li([
        f"{uris.get(item, item)}: labeled '{names.get(stored, 'none')}', "
        f"now '{names.get(given, '?')}' ",
        dbc.Button("take the new label", id={"type": ids.CORRECT, "index": item}, color="link",
                   size="sm", className="p-0 align-baseline")])


@callback(Output(ids.CHECKPOINT_RESULT, "children"),
          Input(ids.SCORE_CHECKPOINT, "n_clicks"),
          State(ids.GUIDED_ORDER, "data"), State(ids.DATASET, "value"),
          prevent_initial_call=True)
def score_checkpoint(_clicks, guided_spec, dataset_id):
    if not guided_spec or guided_spec["kind"] != "checkpoint":
        return note("Start a checkpoint first.", "warning")
    answers = {int(item): label for item, label in guided_spec["answers"].items()}
    if not answers:
        return note("Label some of the checkpoint's items first.", "warning")
    with read_session() as session:
        result = guided.score_checkpoint(session, dataset_id, answers)
        names = {label.id: label.name for label in list_labels(session, dataset_id, True)}
        uris = {row.id: row.uri for row in guided.items_in_order(
            session, dataset_id, [item for item, _, _ in result.disagreements])}
    summary = html.Div(f"Agreement {percent(result.agreement)}: {result.agreeing} of "
                       f"{result.answered} answers match the stored label.",
                       id="label-checkpoint-agreement")
    if not result.disagreements:
        return summary
    rows = [_disagreement_row(item, stored, given, names, uris)
            for item, stored, given in result.disagreements]
    return [summary, html.Ul(rows, className="mb-1"),
            dbc.Button("Take every new label", id=ids.CORRECT_ALL, size="sm", color="warning")]


@callback(Output(ids.REVISION, "data", allow_duplicate=True),
          Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Input({"type": ids.CORRECT, "index": ALL}, "n_clicks"),
          Input(ids.CORRECT_ALL, "n_clicks"),
          State(ids.GUIDED_ORDER, "data"), State(ids.DATASET, "value"),
          State(ids.TAGGER, "value"), State(ids.REVISION, "data"), prevent_initial_call=True)
@on_refusal(no_update, error_alert)
def take_new_labels(clicks, _all, guided_spec, dataset_id, tagger, revision):
    if not guided_spec or guided_spec["kind"] != "checkpoint":
        raise PreventUpdate
    answers = {int(item): label for item, label in guided_spec["answers"].items()}
    if ctx.triggered_id == ids.CORRECT_ALL:
        items = list(answers)
    else:
        items = [clicked_index(clicks)]
    with write_session() as session:
        changed = guided.score_checkpoint(session, dataset_id,
                                          {i: answers[i] for i in items}).disagreements
        if not changed:
            raise PreventUpdate
        event = apply_event(session, dataset_id, tagger_or_default(tagger), "manual",
                            [TagIn(item, given) for item, _, given in changed],
                            params={"validation_checkpoint": True})
    return (revision or 0) + 1, note(f"Corrected {event.n_tags} label(s) from the checkpoint "
                                     f"(event {event.id}).")


# --- efficiency -----------------------------------------------------------------------------

# Only these are labeling: undo and import events write labels but are no labeling
# method, and an import's "rate" is a file's size over a few seconds.
LABELING_METHODS = {"manual": "by hand", "similarity": "similarity",
                    "probability": "probability", "cluster": "explorer",
                    "suggestion": "suggestions"}


def _efficiency_table(figures) -> dbc.Table:
    session = {rate.method: rate for rate in figures.session}
    overall = {rate.method: rate for rate in figures.overall}
    total = sum(figures.shares.values()) or 1
    rows = [html.Tr([html.Td(name),
                     html.Td(f"{session[method].per_minute:.1f}" if method in session else "–"),
                     html.Td(f"{overall[method].per_minute:.1f}"),
                     html.Td(f"{100 * figures.shares.get(method, 0) / total:.0f} %")])
            for method, name in LABELING_METHODS.items() if method in overall]
    head = html.Thead(html.Tr([html.Th("method"), html.Th("/min now"), html.Th("/min all"),
                               html.Th("share")], title="labels per minute of labeling "
                              "time, in this session and ever; share of the current labels"))
    return dbc.Table([head, html.Tbody(rows)], size="sm", className="mb-1")


def _other_events(figures) -> html.Div | None:
    """Imports and undos, counted apart from labeling."""
    overall = {rate.method: rate for rate in figures.overall}

    def labels(count: int) -> str:
        return f"{count:,} label{'' if count == 1 else 's'}"

    notes = []
    if "import" in overall:
        notes.append(f"imported {labels(overall['import'].labels)} "
                     f"({figures.shares.get('import', 0):,} current)")
    if "undo" in overall:
        notes.append(f"undos reverted {labels(overall['undo'].labels)}")
    return html.Div("; ".join(notes) + ".", className="text-muted") if notes else None


@callback(Output(ids.EFFICIENCY, "children"), Input(ids.DATASET, "value"),
          Input(ids.REVISION, "data"), State(ids.SESSION_START, "data"))
def show_efficiency(dataset_id, _revision, session_start):
    if dataset_id is None:
        return None
    since = datetime.fromisoformat(session_start) if session_start else None
    with read_session() as session:
        figures = guided.labeling_efficiency(session, dataset_id, since)
    if not any(rate.method in LABELING_METHODS for rate in figures.overall):
        return [html.Small("No labeling yet.", className="text-muted"), _other_events(figures)]
    return [_efficiency_table(figures),
            html.Div(f"auto-labels later changed by hand: {figures.auto_changed_by_hand:,} of "
                     f"{figures.auto_labeled:,}", className="text-muted"),
            _other_events(figures)]
