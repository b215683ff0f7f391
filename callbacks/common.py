"""Small helpers the page callbacks share."""
from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, html
from dash.exceptions import PreventUpdate
from sqlalchemy.orm import Session

from auth.identity import acting_name
from callbacks.ids import JobsPanel
from db.lookups import dataset_names
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


def on_refusal(*answer: Any, errors: tuple[type[Exception], ...] = (DomainError,)):
    """Decorate a callback so that a refused request (a ``DomainError``, or one of
    ``errors``) is shown, not raised: the callback then returns ``answer``, one entry per
    output, where an entry that is a function (e.g. :func:`error_alert`) is called with the
    error and any other entry (``no_update``, a value) is returned as it is.

    ``@on_refusal(no_update, error_alert)`` under ``@callback`` reads: when refused, leave
    the first output and show the alert in the second.
    """
    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def answered(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except errors as error:
                outputs = [entry(error) if callable(entry) else entry for entry in answer]
                return outputs[0] if len(outputs) == 1 else tuple(outputs)
        return answered
    return decorate


def tagger_or_default(name: str | None) -> str:
    """The name typed on the page, or the configured tagger when the field is empty; with
    accounts, the logged-in user (``auth.identity.acting_name``)."""
    return acting_name(None if current_services().settings.auth != "none" else name)


def clicked_index(clicks: list | None):
    """The index of the pattern-matching button that fired this callback.

    Dash also fires such callbacks when the buttons are merely re-drawn (every n_clicks
    None); that is no click, so the update is prevented.
    """
    if not ctx.triggered_id or not any(clicks or []):
        raise PreventUpdate
    return ctx.triggered_id["index"]


def thumbnail_url(item_id: int, size: int, log: bool, percentiles, colormap: str) -> str:
    """The thumbnail route's address for one item, as the page's display settings ask."""
    query = urlencode({"size": size, "log": int(bool(log)), "pmin": percentiles[0],
                       "pmax": percentiles[1], "cmap": colormap})
    return f"/thumbs/{item_id}.png?{query}"


def dataset_choices(requested: int | None = None) -> tuple[list[dict], int | None]:
    """Options of a data-set dropdown and the chosen one: ``requested`` if it exists (e.g.
    from the URL), else the first data set."""
    with read_session() as session:
        datasets = dataset_names(session)
    options = [{"label": name, "value": dataset_id} for dataset_id, name in datasets]
    known = {dataset_id for dataset_id, _ in datasets}
    chosen = requested if requested in known else (datasets[0][0] if datasets else None)
    return options, chosen


def register_dataset_dropdown(dropdown_id: str, requested_id: str) -> None:
    """Register the callback that fills a page's data-set dropdown and chooses the data set
    its URL named (kept in the store ``requested_id``), else the first one."""
    @callback(Output(dropdown_id, "options"), Output(dropdown_id, "value"),
              Input(requested_id, "data"))
    def list_datasets(requested):
        return dataset_choices(requested)


def register_jobs_filter(scope: str, dropdown_id: str) -> None:
    """Register the callback that shows, in the jobs panel ``scope``, the jobs of the data
    set chosen in ``dropdown_id`` (all jobs when none is chosen)."""
    panel_filter = JobsPanel.id(JobsPanel.FILTER, scope)

    @callback(Output(panel_filter, "data"), Input(dropdown_id, "value"),
              State(panel_filter, "data"))
    def filter_by_dataset(dataset_id, job_filter):
        return {**(job_filter or {}), "dataset_id": dataset_id}


def shown_group(chosen: str, group_ids: list[dict]) -> list[Optional[dict]]:
    """The styles of a form's groups of fields: only the ``chosen`` one shown."""
    return [None if group["index"] == chosen else {"display": "none"} for group in group_ids]


def fields_of(method: str, values: list, field_ids: list[dict]) -> dict[str, Any]:
    """{param: value} of the form fields whose index is ``method.param``."""
    prefix = f"{method}."
    return {field["index"].removeprefix(prefix): value
            for field, value in zip(field_ids, values) if field["index"].startswith(prefix)}


def note(text: str, color: str = "success") -> html.Div:
    """A short line of feedback under the gallery's controls."""
    return html.Div(text, className=f"text-{color} small mb-1")


def muted(error) -> html.Span:
    """A preview's refusal: what is missing before the batch can be shown."""
    return html.Span(str(error), className="text-muted")


def percent(share) -> str:
    return "–" if share is None else f"{100 * share:.0f} %"


def kept_choice(value, options):
    """A dropdown's value after its options change: kept if still offered, else the first."""
    known = [option["value"] for option in options]
    return value if value in known else (known[0] if known else None)
