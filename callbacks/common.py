"""Small helpers the page callbacks share."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import dash_bootstrap_components as dbc
from dash import ctx
from dash.exceptions import PreventUpdate
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Dataset
from db.session import transaction
from errors import DomainError
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
    prefix = f"{field}: " if isinstance(error, DomainError) and field else ""
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
