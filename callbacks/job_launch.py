"""What the pages that train models (autoencoder, classifier) share: the data-set choice
that filters their jobs panel, their train and inference buttons, and the models a run may
start from.

Each such page calls :func:`register_model_page` once with its ids; the buttons start
jobs through the same checks as the REST API, put a refusal next to the form field it
names, and make the page's jobs panel list and select the new job.
"""
from __future__ import annotations

from typing import Callable

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, no_update
from dash.exceptions import PreventUpdate

from callbacks.common import (error_alert, on_refusal, read_session, register_dataset_dropdown,
                              register_jobs_filter, tagger_or_default)
from callbacks.ids import JobsPanel
from errors import DomainError
from ml.init_model import model_choices
from ml.jobs import start_job
from services import current_services


def launch_job(kind: str, dataset_id: int, params: dict, changed: dict | None
               ) -> tuple[dbc.Alert, dict]:
    """Start a job: the message to show and the new value of the jobs panel's CHANGED
    store, which makes the panel list and select the job. DomainError when refused."""
    services = current_services()
    job_id = start_job(services.celery(), services.session_factory, kind, dataset_id, params,
                       tagger_or_default(None), services.settings.file_roots,
                       services.settings.max_job_bytes)
    message = dbc.Alert(f"Job #{job_id} ({kind}) queued.", color="success", duration=4000,
                        className="py-2")
    return message, {"n": (changed or {}).get("n", 0) + 1, "select": job_id}


def field_messages(error: DomainError | None, field_ids: list[dict], prefix: str = ""
                   ) -> list[str]:
    """The refusal's message under the field it names (whose index is ``prefix`` and the
    parameter), '' under the others."""
    name = prefix + (getattr(error, "field", "") or "").removeprefix("params.")
    return [str(error) if error is not None and field_id["index"] == name else ""
            for field_id in field_ids]


def launch_training(kind: str, dataset_id: int | None, params: dict, changed: dict | None,
                    field_messages):
    """A page's train button: (message, CHANGED store, the form's field messages), where
    ``field_messages(error or None)`` puts a refusal next to the field it names."""
    if dataset_id is None:
        return dbc.Alert("Choose a data set first.", color="warning"), no_update, no_update

    @on_refusal(error_alert, no_update, field_messages)
    def launch():
        message, new_changed = launch_job(kind, dataset_id, params, changed)
        return message, new_changed, field_messages(None)
    return launch()


@on_refusal(error_alert, no_update)
def launch_inference(kind: str, dataset_id: int | None, model_job_id: int | None,
                     changed: dict | None):
    """A page's inference button, for the training job selected in its jobs panel."""
    if model_job_id is None or dataset_id is None:
        raise PreventUpdate
    return launch_job(kind, dataset_id, {"model_job_id": model_job_id}, changed)


def register_model_page(page, train_kind: str, infer_kind: str,
                        form_params: Callable[[list, list], dict],
                        field_errors: Callable[[DomainError | None, list, list], list]
                        ) -> None:
    """The shared callbacks of a model page (``page`` is its ids class);
    ``field_errors(error or None, field ids, field values)`` are the form's messages."""
    fields = {"type": page.FIELD, "index": ALL}
    changed_store = JobsPanel.id(JobsPanel.CHANGED, page.SCOPE)
    register_dataset_dropdown(page.DATASET, page.DATASET_REQUESTED)
    register_jobs_filter(page.SCOPE, page.DATASET)

    @callback(Output(page.FEEDBACK, "children"),
              Output(changed_store, "data", allow_duplicate=True),
              Output({"type": page.FIELD_ERROR, "index": ALL}, "children",
                     allow_duplicate=True),
              Input(page.TRAIN, "n_clicks"), State(fields, "value"), State(fields, "id"),
              State(page.DATASET, "value"), State(changed_store, "data"),
              prevent_initial_call=True)
    def train(_clicks, values, field_ids, dataset_id, changed):
        return launch_training(train_kind, dataset_id, form_params(values, field_ids), changed,
                               lambda error: field_errors(error, field_ids, values))

    @callback(Output({"type": page.FIELD, "index": "init_model"}, "options"),
              Input(changed_store, "data"),
              Input(JobsPanel.id(JobsPanel.POLL, page.SCOPE), "disabled"))
    def list_start_models(_changed, _idle):
        """The succeeded runs of the page's training kind, of any data set, newest first:
        listed again when a job was started or deleted and when the running ones end."""
        with read_session() as session:
            return [{"label": label, "value": job_id}
                    for job_id, label in model_choices(session, train_kind)]

    @callback(Output(page.FEEDBACK, "children", allow_duplicate=True),
              Output(changed_store, "data", allow_duplicate=True),
              Input(page.INFER, "n_clicks"),
              State(JobsPanel.id(JobsPanel.SELECTED, page.SCOPE), "data"),
              State(page.DATASET, "value"), State(changed_store, "data"),
              prevent_initial_call=True)
    def infer(_clicks, model_job_id, dataset_id, changed):
        return launch_inference(infer_kind, dataset_id, model_job_id, changed)
