"""Behaviour of the models page (pages/models.py): the library's table and its filters, the
selected model's card (name and description saved in place, a refusal said by its field)
and facts, its Export link, Delete after a dialog that says what is lost, and the import of
a model file (a refusal said under the upload). Thin adapters to ml.model_library and
ml.model_files."""
from __future__ import annotations

import base64
import binascii
import io

from typing import Any, Optional

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, html, no_update
from dash.exceptions import PreventUpdate

from auth.ownership import check_may_change_job
from callbacks.common import (clicked_index, dataset_choices, error_alert, on_refusal,
                              read_session, tagger_or_default, write_session)
from callbacks.ids import Models as ids
from callbacks.jobs_panel import deletion_loss, results_link, size_text
from db.models import MAX_ROW_ID, as_utc
from errors import DomainError
from ml import model_files, model_library
from ml.model_library import ModelFacts
from services import current_services

COLUMNS = ("Name", "Kind", "Architecture", "Data set", "Learned from", "Classes", "Metrics",
           "Size", "Trained")
CARD_FIELDS = ("name", "description")  # the form fields a refusal can name


def _chosen_id(value) -> Optional[int]:
    text = str(value or "")
    return int(text) if text.isdigit() and 0 < int(text) <= MAX_ROW_ID else None


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "×".join(str(part) for part in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def architecture_text(facts: ModelFacts) -> str:
    """e.g. 'model resnet18 · image size 48×48 · pretrained no · freeze backbone no'."""
    return " · ".join(f"{name.replace('_', ' ')} {_shown(value)}"
                      for name, value in facts.architecture.items())


def metrics_text(facts: ModelFacts) -> str:
    """The validation numbers of the kept epoch, e.g. 'val_loss 0.0123 · val_accuracy 0.9'."""
    shown = [f"{name} {_shown(value)}" for name, value in facts.metrics.items()
             if name.startswith("val_")]
    return " · ".join(shown) or "–"


def learned_from_text(facts: ModelFacts) -> str:
    if facts.dataset_id is None:  # only an imported model has no data set
        return "imported, no data set"
    if facts.learned_from_event_id is None:
        return "images only"
    return f"labels up to event {facts.learned_from_event_id}"


def _date(moment) -> str:
    return f"{as_utc(moment):%Y-%m-%d %H:%M}" if moment else "–"


def _row(facts: ModelFacts, selected: bool):
    cells = (facts.name, facts.kind.removesuffix("_train"), architecture_text(facts),
             facts.dataset_name or "–", learned_from_text(facts),
             ", ".join(facts.class_names or []) or "–", metrics_text(facts),
             size_text(facts.size_bytes), _date(facts.finished_at))
    return html.Tr([html.Td(cell, className="fw-semibold" if index == 0 else "small")
                    for index, cell in enumerate(cells)],
                   id={"type": ids.ROW, "index": facts.id}, style={"cursor": "pointer"},
                   className="table-active" if selected else None)


def _table(models: list[ModelFacts], selected: Optional[int]):
    if not models:
        return html.Div("No models here yet: a training job that succeeds (on the Autoencoder "
                        "or Classifier page) becomes a model.", className="text-muted small")
    head = html.Thead(html.Tr([html.Th(title, className="small") for title in COLUMNS]))
    return dbc.Table([head, html.Tbody([_row(facts, facts.id == selected)
                                        for facts in models])],
                     hover=True, size="sm", className="align-middle")


@callback(Output(ids.DATASET, "options"), Input(ids.DATASET, "id"))
def list_datasets(_id):
    return [{"label": "All data sets", "value": ids.EVERY}, *dataset_choices()[0]]


@callback(Output(ids.TABLE, "children"), Output(ids.SELECTED, "data"),
          Input(ids.DATASET, "value"), Input(ids.KIND, "value"), Input(ids.CHANGED, "data"),
          Input(ids.SELECTED, "data"))
@on_refusal(error_alert, None)
def show_models(dataset_value, kind, _changed, selected):
    """The models the filters choose; the selected one stays selected while listed, else
    the newest is."""
    with read_session() as session:
        models = model_library.list_models(
            session, kind if kind in model_library.model_kinds() else None,
            _chosen_id(dataset_value))
    listed = [facts.id for facts in models]
    selected = selected if selected in listed else (listed[0] if listed else None)
    return _table(models, selected), selected


@callback(Output(ids.SELECTED, "data", allow_duplicate=True),
          Input({"type": ids.ROW, "index": ALL}, "n_clicks"), prevent_initial_call=True)
def select_model(clicks):
    return clicked_index(clicks)


def _facts_table(facts: ModelFacts):
    built_on = ", ".join(f"#{job.id} {job.kind} ({job.status})" for job in facts.built_on or [])
    rows = [("Model", f"#{facts.id} · {facts.kind} · by {facts.owner}"),
            ("Data set", "–" if facts.dataset_id is None else
             f"{facts.dataset_name or '–'} (id {facts.dataset_id})"),
            ("Learned from", learned_from_text(facts)),
            ("Classes", ", ".join(facts.class_names or []) or "–"),
            *((name.replace('_', ' '), _shown(value))
              for name, value in facts.architecture.items()),
            *((name, _shown(value)) for name, value in facts.metrics.items()),
            ("Size", size_text(facts.size_bytes)),
            ("Trained", f"{_date(facts.created_at)} → {_date(facts.finished_at)} UTC"),
            ("Built on it", built_on or "no jobs yet")]
    table = dbc.Table(html.Tbody([html.Tr([html.Td(name, className="text-muted"),
                                           html.Td(value)]) for name, value in rows]),
                      size="sm", borderless=True, className="small mb-1")
    parameters = html.Details([html.Summary("Training parameters", className="small"),
                               dbc.Table(html.Tbody([
                                   html.Tr([html.Td(name, className="text-muted"),
                                            html.Td(_shown(value))])
                                   for name, value in sorted(facts.parameters.items())]),
                                   size="sm", borderless=True, className="small")])
    return [table, parameters]


@callback(Output(ids.DETAIL, "style"), Output(ids.FACTS, "children"),
          Output(ids.NAME, "value"), Output(ids.DESCRIPTION, "value"),
          Output(ids.RESULTS_LINK, "href"), Output(ids.RESULTS_LINK, "children"),
          Output(ids.NAME_ERROR, "children"), Output(ids.DESCRIPTION_ERROR, "children"),
          Output(ids.EXPORT_LINK, "href"),
          Input(ids.SELECTED, "data"), Input(ids.CHANGED, "data"))
def show_model(model_id, _changed):
    hidden = ({"display": "none"}, None, "", "", None, None, None, None, None)
    if _chosen_id(model_id) is None:
        return hidden
    with read_session() as session:
        try:
            facts = model_library.model_facts(session, model_id)
        except DomainError:  # deleted meanwhile: the table selects another one
            return hidden
        href, page_name = results_link(model_library.model_job(session, model_id))
    link = [html.I(className="bi bi-box-arrow-up-right me-1"), f"results on {page_name}"]
    return (None, _facts_table(facts), facts.name, facts.description, href, link, None, None,
            f"/api/v1/models/{facts.id}/export")


def _field_messages(error: Optional[DomainError]) -> list[Optional[str]]:
    """The refusal under the field it names, one entry per card field."""
    return [str(error) if error is not None and error.field == field else None
            for field in CARD_FIELDS]


@callback(Output(ids.NAME_ERROR, "children", allow_duplicate=True),
          Output(ids.DESCRIPTION_ERROR, "children", allow_duplicate=True),
          Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Output(ids.CHANGED, "data", allow_duplicate=True),
          Input(ids.SAVE, "n_clicks"), State(ids.SELECTED, "data"), State(ids.NAME, "value"),
          State(ids.DESCRIPTION, "value"), State(ids.CHANGED, "data"),
          prevent_initial_call=True)
def save_card(_clicks, model_id, name, description, changed):
    if _chosen_id(model_id) is None:
        raise PreventUpdate
    try:
        with write_session() as session:
            model_library.model_job(session, model_id)
            check_may_change_job(session, model_id)
            saved = model_library.describe_model(session, model_id, name or "",
                                                 description or "").name
    except DomainError as error:
        messages = _field_messages(error)
        return (*messages, None if any(messages) else error_alert(error), no_update)
    return (None, None, dbc.Alert(f"Saved: {saved}.", color="success", duration=4000,
                                  className="py-2"), (changed or 0) + 1)


@callback(Output(ids.CONFIRM_MODAL, "is_open"), Output(ids.CONFIRM_TEXT, "children"),
          Output(ids.CONFIRM_DELETE, "disabled"),
          Input(ids.DELETE, "n_clicks"), Input(ids.CONFIRM_KEEP, "n_clicks"),
          Input(ids.CONFIRM_DELETE, "n_clicks"), State(ids.SELECTED, "data"),
          prevent_initial_call=True)
def confirm_delete(_delete, _keep, _confirm, model_id):
    """Delete asks first, saying what will be lost (or why it cannot be deleted now); Keep
    (or Esc) and Delete close it."""
    if ctx.triggered_id != ids.DELETE:
        return False, no_update, no_update
    if _chosen_id(model_id) is None:
        raise PreventUpdate
    with read_session() as session:
        try:
            name = model_library.model_facts(session, model_id).name
            job = model_library.check_deletable(session, model_id)
        except DomainError as error:
            return True, dbc.Alert(str(error), color="warning"), True
        return True, [html.P(["Model ", html.Strong(name), ":"]),
                      *deletion_loss(session, job)], False


@callback(Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Output(ids.CHANGED, "data", allow_duplicate=True),
          Input(ids.CONFIRM_DELETE, "n_clicks"), State(ids.SELECTED, "data"),
          State(ids.CHANGED, "data"), prevent_initial_call=True)
@on_refusal(error_alert, no_update)
def delete_model(_clicks, model_id, changed):
    if _chosen_id(model_id) is None:
        raise PreventUpdate
    with write_session() as session:
        name = model_library.model_facts(session, model_id).name
        check_may_change_job(session, model_id)
        model_library.delete_model(session, model_id)
    return (dbc.Alert(f"Model {name} and its files deleted.", color="info", dismissable=True,
                      duration=4000, className="py-2"), (changed or 0) + 1)


@callback(Output(ids.IMPORT_MESSAGE, "children"), Output(ids.IMPORT_UPLOAD, "contents"),
          Output(ids.SELECTED, "data", allow_duplicate=True),
          Output(ids.CHANGED, "data", allow_duplicate=True),
          Input(ids.IMPORT_UPLOAD, "contents"), State(ids.IMPORT_UPLOAD, "filename"),
          State(ids.CHANGED, "data"), prevent_initial_call=True)
def import_model(contents, file_name, changed):
    """A dropped model file becomes a new model, selected; a refusal says why."""
    if not contents:
        raise PreventUpdate
    try:
        data = base64.b64decode(str(contents).partition(",")[2], validate=True)
    except (binascii.Error, ValueError):
        return (error_alert(DomainError("the upload did not arrive whole; drop the file again",
                                        "file")), None, no_update, no_update)
    try:
        with write_session() as session:
            model_id = model_files.import_model(
                session, io.BytesIO(data), str(file_name or ""), tagger_or_default(None),
                current_services().settings.artifacts_dir)
            name = model_library.model_facts(session, model_id).name
    except DomainError as error:
        return error_alert(error), None, no_update, no_update
    return (dbc.Alert(f"Imported {name} as model #{model_id}.", color="success",
                      dismissable=True, className="py-2"), None, model_id, (changed or 0) + 1)
