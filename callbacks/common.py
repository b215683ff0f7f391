"""Small helpers the page callbacks share."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import dash_bootstrap_components as dbc
from dash import ctx, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Dataset
from db.session import transaction
from db.store import StoreError
from ml.jobs import start_job
from services import current_services


@contextmanager
def read_session() -> Iterator[Session]:
    with current_services().session_factory() as session:
        yield session


@contextmanager
def write_session() -> Iterator[Session]:
    with transaction(current_services().session_factory) as session:
        yield session


def error_alert(error: Exception) -> dbc.Alert:
    """A refused request as the user sees it: what is wrong and, where known, which field."""
    field = getattr(error, "field", None)
    prefix = f"{field}: " if isinstance(error, StoreError) and field else ""
    return dbc.Alert(f"{prefix}{error}", color="danger", dismissable=True)


def tagger_or_default(name: str | None) -> str:
    """The name typed on the page, or the configured tagger when the field is empty."""
    return (name or "").strip() or current_services().settings.tagger


def clicked_index(clicks: list | None):
    """The index of the pattern-matching button that fired this callback.

    Dash also fires such callbacks when the buttons are merely re-drawn (every n_clicks
    None); that is no click, so the update is prevented.
    """
    if not ctx.triggered_id or not any(clicks or []):
        raise PreventUpdate
    return ctx.triggered_id["index"]


def dataset_choices(requested: int | None = None) -> tuple[list[dict], int | None]:
    """Options of a data-set dropdown and the chosen one: ``requested`` if it exists (e.g.
    from the URL), else the first data set."""
    with read_session() as session:
        datasets = session.execute(select(Dataset.id, Dataset.name).order_by(Dataset.id)).all()
    options = [{"label": name, "value": dataset_id} for dataset_id, name in datasets]
    known = {dataset_id for dataset_id, _ in datasets}
    chosen = requested if requested in known else (datasets[0][0] if datasets else None)
    return options, chosen


# --- starting jobs from a page (its jobs panel lists and selects them) -------------------------

def launch_job(kind: str, dataset_id: int, params: dict, changed: dict | None
               ) -> tuple[dbc.Alert, dict]:
    """Start a job: the message to show and the new value of the jobs panel's CHANGED
    store, which makes the panel list and select the job. StoreError when refused."""
    services = current_services()
    job_id = start_job(services.celery(), services.session_factory, kind, dataset_id, params,
                       tagger_or_default(None))
    message = dbc.Alert(f"Job #{job_id} ({kind}) queued.", color="success", duration=4000,
                        className="py-2")
    return message, {"n": (changed or {}).get("n", 0) + 1, "select": job_id}


def launch_training(kind: str, dataset_id: int | None, params: dict, changed: dict | None,
                    field_messages):
    """A page's train button: (message, CHANGED store, the form's field messages), where
    ``field_messages(error or None)`` puts a refusal next to the field it names."""
    if dataset_id is None:
        return dbc.Alert("Choose a data set first.", color="warning"), no_update, no_update
    try:
        message, changed = launch_job(kind, dataset_id, params, changed)
    except StoreError as error:
        return error_alert(error), no_update, field_messages(error)
    return message, changed, field_messages(None)


def launch_inference(kind: str, dataset_id: int | None, model_job_id: int | None,
                     changed: dict | None):
    """A page's inference button, for the training job selected in its jobs panel."""
    if model_job_id is None or dataset_id is None:
        raise PreventUpdate
    try:
        return launch_job(kind, dataset_id, {"model_job_id": model_job_id}, changed)
    except StoreError as error:
        return error_alert(error), no_update
