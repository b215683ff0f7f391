"""Behaviour of the suggestion panel's retrain loop: its setting (on or off, every how many
new labels), "retrain now", and its status line, refreshed after every change of the labels
or the setting and polled while a job of the loop is queued or running. Each refresh is a
step of the loop too, so a training that finished is followed by its inference however it
ran. Thin adapters to ml.retrain_loop and db.retrain_loops."""
from __future__ import annotations

from dash import Input, Output, State, callback, ctx, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.common import (error_alert, note, on_refusal, percent, read_session,
                              tagger_or_default, write_session)
from callbacks.ids import Label as ids
from db.retrain_loops import loop_of, set_loop
from ml.retrain_loop import LoopStatus, loop_status
from services import current_services

DOING = {"classifier_train": "retraining", "classifier_infer": "classifying every item"}


def describe(status: LoopStatus) -> list:
    """The status line: the job running, the model suggestions come from, the next
    retraining; and, under it, why the newest try gave no model."""
    parts = []
    if (job := status.running) is not None:
        parts.append(f"{DOING[job.kind]}… {percent(job.progress)}" if job.status == "running"
                     else f"{DOING[job.kind]}: job {job.id} queued")
    if status.source is not None:
        learnt = "" if status.trained_on is None else f"trained on {status.trained_on:,} labels, "
        parts.append(f"model: {learnt}{status.new_labels:,} new since (job {status.source.id})")
    elif job is None:
        parts.append("no model from the loop yet")
    if status.enabled and job is None:
        parts.append(f"next retrain in {status.labels_to_next:,} labels"
                     if status.labels_to_next else "retrain due")
    problem = status.problem if job is None else None
    return [html.Span(" · ".join(parts), className="text-muted"),
            html.Div(problem, className="text-danger") if problem else None]


@callback(Output(ids.LOOP_ON, "value"), Output(ids.LOOP_EVERY, "value"),
          Output(ids.LOOP_CHANGED, "data"), Output(ids.LOOP_FEEDBACK, "children"),
          Input(ids.DATASET, "value"), Input(ids.LOOP_ON, "value"), Input(ids.LOOP_EVERY, "value"),
          State(ids.LOOP_CHANGED, "data"))
@on_refusal(no_update, no_update, no_update, error_alert)
def loop_setting(dataset_id, enabled, every, changed):
    """Show the data set's setting when it is chosen; save the user's changes to it."""
    if dataset_id is None:
        raise PreventUpdate
    if ctx.triggered_id in (None, ids.DATASET):
        with read_session() as session:
            loop = loop_of(session, dataset_id)
        return loop.enabled, loop.every_labels, no_update, None
    with write_session() as session:
        set_loop(session, dataset_id, bool(enabled), every)
    return no_update, no_update, changed + 1, None


@callback(Output(ids.LOOP_CHANGED, "data", allow_duplicate=True),
          Output(ids.LOOP_FEEDBACK, "children", allow_duplicate=True),
          Input(ids.LOOP_NOW, "n_clicks"), State(ids.DATASET, "value"),
          State(ids.TAGGER, "value"), State(ids.LOOP_CHANGED, "data"), prevent_initial_call=True)
@on_refusal(no_update, error_alert)
def retrain_now(_clicks, dataset_id, tagger, changed):
    if dataset_id is None:
        raise PreventUpdate
    job_id = current_services().step_retrain_loop(dataset_id, tagger_or_default(tagger),
                                                  now=True)
    return changed + 1, note(f"Job {job_id} queued.")


@callback(Output(ids.LOOP_STATUS, "children"), Output(ids.LOOP_POLL, "disabled"),
          Output(ids.LOOP_STATE, "data"),
          Input(ids.DATASET, "value"), Input(ids.MODE, "value"), Input(ids.REVISION, "data"),
          Input(ids.LOOP_CHANGED, "data"), Input(ids.LOOP_POLL, "n_intervals"),
          State(ids.TAGGER, "value"), State(ids.LOOP_STATE, "data"))
@on_refusal(error_alert, True, no_update)
def show_status(dataset_id, mode, _revision, _changed, _tick, tagger, state):
    """Step the loop, then show where it stands; poll only while one of its jobs runs."""
    if dataset_id is None or mode != "suggestions":
        return no_update, True, no_update
    services = current_services()
    services.check_jobs()  # a loop job whose worker died shows as failed, and the loop goes on
    services.step_retrain_loop(dataset_id, tagger_or_default(tagger))
    with read_session() as session:
        status = loop_status(session, dataset_id)
    loop = {"enabled": status.enabled, "source_job_id": status.source_job_id}
    return describe(status), status.running is None, loop if loop != state else no_update
