"""Behaviour of the label-class panel: list, add, edit, reorder, delete (as an event)."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import (ALL, Input, Output, State, callback, clientside_callback, ctx, dcc, html,
                  no_update)
from dash.exceptions import PreventUpdate

from callbacks.common import (clicked_index, error_alert, on_refusal, read_session,
                              tagger_or_default, write_session)
from callbacks.ids import Label as ids
from db.labels import (create_label, delete_label, label_usage, list_labels,
                       next_palette_color, reorder_labels, update_label)
from db.store import label_counts
from errors import DomainError


def _class_row(label, count: int):
    hotkey = dbc.Badge(label.hotkey, color="light", text_color="dark", className="ms-1") \
        if label.hotkey else None
    return html.Div([
        dbc.Button([html.Span(className="swatch", style={"background": label.color}),
                    label.name, hotkey, html.Small(f" {count:,}", className="text-muted")],
                   id={"type": ids.LABEL_BUTTON, "index": label.id}, color="light", size="sm",
                   className="btn-label", title=f"label the selection '{label.name}'"),
        dbc.Button(html.I(className="bi bi-arrow-up"), id={"type": ids.MOVE_UP, "index": label.id},
                   color="link", size="sm", title="move up"),
        dbc.Button(html.I(className="bi bi-pencil"), id={"type": ids.EDIT, "index": label.id},
                   color="link", size="sm", title="rename, recolour, hotkey"),
        dbc.Button(html.I(className="bi bi-trash"), id={"type": ids.DELETE, "index": label.id},
                   color="link", size="sm", title="delete"),
    ], className="class-row")


def _form_error_slot():
    """Where the new-class field says why a class was not added, and which name: the last
    child of the class list, right above the field, so the list's callback draws it too."""
    return html.Div([html.Div(id=ids.CLASS_FORM_ERROR, className="text-danger small",
                              **{"aria-live": "polite"}),
                     dcc.Store(id=ids.CLASS_FORM_REFUSED)])


@callback(Output(ids.CLASSES, "children"), Output(ids.FILTER, "options"),
          Output(ids.NEW_COLOR, "value"),
          Input(ids.DATASET, "value"), Input(ids.REVISION, "data"))
def show_classes(dataset_id, _revision):
    options = [{"label": "all", "value": "all"}, {"label": "unlabeled", "value": "unlabeled"}]
    if dataset_id is None:
        return [_form_error_slot()], options, no_update
    with read_session() as session:
        labels = list_labels(session, dataset_id)
        counts = label_counts(session, dataset_id).per_label
    rows = [_class_row(label, counts.get(label.id, 0)) for label in labels]
    if not rows:
        rows = [html.P("No classes yet: add one below.", className="text-muted small")]
    options += [{"label": f"only {label.name}", "value": f"label:{label.id}"} for label in labels]
    options += [{"label": "labeled by a model", "value": "by:model"},
                {"label": "labeled by hand", "value": "by:hand"}]
    # the picker offers the next palette colour when the data set opens, and keeps the
    # user's choice while they label
    color = next_palette_color(labels).lower() if ctx.triggered_id != ids.REVISION \
        else no_update
    return [*rows, _form_error_slot()], options, color


def _bump(revision):
    return (revision or 0) + 1


@callback(Output(ids.REVISION, "data", allow_duplicate=True),
          Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Output(ids.NEW_NAME, "value"), Output(ids.NEW_NAME, "invalid"),
          Output(ids.CLASS_FORM_ERROR, "children"), Output(ids.CLASS_FORM_REFUSED, "data"),
          Output(ids.NEW_COLOR, "value", allow_duplicate=True),
          Input(ids.ADD, "n_clicks"), Input(ids.NEW_NAME, "n_submit"),
          State(ids.NEW_NAME, "value"), State(ids.NEW_COLOR, "value"),
          State(ids.DATASET, "value"), State(ids.REVISION, "data"), prevent_initial_call=True)
def add_class(_clicks, _submit, name, color, dataset_id, revision):
    """Add a class in the picker's colour (the next palette colour unless the user chose
    another one that no class has); a refusal is said by the name field."""
    if dataset_id is None:
        raise PreventUpdate
    try:
        with write_session() as session:
            active = list_labels(session, dataset_id)
            used = {label.color.lower() for label in active}
            label = create_label(session, dataset_id, name or "",
                                 color=None if (color or "").lower() in used else color)
            next_color = next_palette_color([*active, label]).lower()
    except DomainError as error:
        return no_update, no_update, no_update, True, str(error), name, no_update
    return _bump(revision), None, "", False, None, None, next_color


# Typing a name other than the refused one takes the refusal away (in the browser: no
# request per key). The refused name itself may still arrive from keys typed before.
clientside_callback(
    """function(name, refused) {
        if (name === refused) { return window.dash_clientside.no_update; }
        return [false, null];
    }""",
    Output(ids.NEW_NAME, "invalid", allow_duplicate=True),
    Output(ids.CLASS_FORM_ERROR, "children", allow_duplicate=True),
    Input(ids.NEW_NAME, "value"), State(ids.CLASS_FORM_REFUSED, "data"),
    prevent_initial_call=True)


EDIT_FIELDS = {"name": ids.EDIT_NAME, "color": ids.EDIT_COLOR, "hotkey": ids.EDIT_HOTKEY}


def _field_flags(field=None) -> list[bool]:
    """The edit dialog's fields' invalid flags: only ``field``'s set."""
    return [name == field for name in EDIT_FIELDS]


@callback(Output(ids.EDIT_MODAL, "is_open"), Output(ids.EDIT_ID, "data"),
          Output(ids.EDIT_NAME, "value"), Output(ids.EDIT_COLOR, "value"),
          Output(ids.EDIT_HOTKEY, "value"),
          *[Output(field, "invalid", allow_duplicate=True) for field in EDIT_FIELDS.values()],
          Output(ids.EDIT_ERROR, "children", allow_duplicate=True),
          Input({"type": ids.EDIT, "index": ALL}, "n_clicks"), State(ids.DATASET, "value"),
          prevent_initial_call=True)
def open_editor(clicks, dataset_id):
    label_id = clicked_index(clicks)
    with read_session() as session:
        label = next(label for label in list_labels(session, dataset_id)
                     if label.id == label_id)
    return (True, label.id, label.name, label.color, label.hotkey or "", *_field_flags(),
            None)


@callback(Output(ids.REVISION, "data", allow_duplicate=True),
          Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Output(ids.EDIT_MODAL, "is_open", allow_duplicate=True),
          *[Output(field, "invalid") for field in EDIT_FIELDS.values()],
          Output(ids.EDIT_ERROR, "children"),
          Input(ids.EDIT_SAVE, "n_clicks"),
          State(ids.EDIT_ID, "data"), State(ids.EDIT_NAME, "value"),
          State(ids.EDIT_COLOR, "value"), State(ids.EDIT_HOTKEY, "value"),
          State(ids.DATASET, "value"), State(ids.REVISION, "data"), prevent_initial_call=True)
@on_refusal(no_update, no_update, True,
            *[lambda error, name=name: error.field == name for name in EDIT_FIELDS], str)
def save_class(_clicks, label_id, name, color, hotkey, dataset_id, revision):
    """Save the dialog; a refusal stays in the dialog, under its fields, with the field
    marked (the page's own message line is hidden behind the dialog)."""
    with write_session() as session:
        update_label(session, dataset_id, label_id, name=name, color=color,
                     hotkey=(hotkey or "").strip())
    return _bump(revision), None, False, *_field_flags(), None


@callback(Output(ids.REVISION, "data", allow_duplicate=True),
          Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Input({"type": ids.MOVE_UP, "index": ALL}, "n_clicks"),
          State(ids.DATASET, "value"), State(ids.REVISION, "data"), prevent_initial_call=True)
@on_refusal(no_update, error_alert)
def move_class_up(clicks, dataset_id, revision):
    label_id = clicked_index(clicks)
    with write_session() as session:
        order = [label.id for label in list_labels(session, dataset_id)]
        at = order.index(label_id)
        if at == 0:
            raise PreventUpdate
        order[at - 1], order[at] = order[at], order[at - 1]
        reorder_labels(session, dataset_id, order)
    return _bump(revision), None


@callback(Output(ids.CONFIRM_MODAL, "is_open"), Output(ids.CONFIRM_ID, "data"),
          Output(ids.CONFIRM_TEXT, "children"),
          Output(ids.REVISION, "data", allow_duplicate=True),
          Input({"type": ids.DELETE, "index": ALL}, "n_clicks"),
          State(ids.DATASET, "value"), State(ids.TAGGER, "value"), State(ids.REVISION, "data"),
          prevent_initial_call=True)
def delete_class(clicks, dataset_id, tagger, revision):
    """An unused class goes at once; one in use asks first."""
    label_id = clicked_index(clicks)
    with read_session() as session:
        in_use = label_usage(session, dataset_id, label_id)
    if in_use:
        text = (f"{in_use:,} items carry this class. Deleting it unlabels them in one event, "
                "which you can undo from the history.")
        return True, label_id, text, no_update
    with write_session() as session:
        delete_label(session, dataset_id, label_id, tagger_or_default(tagger))
    return False, None, None, _bump(revision)


@callback(Output(ids.CONFIRM_MODAL, "is_open", allow_duplicate=True),
          Output(ids.REVISION, "data", allow_duplicate=True),
          Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Input(ids.CONFIRM_DELETE, "n_clicks"), State(ids.CONFIRM_ID, "data"),
          State(ids.DATASET, "value"), State(ids.TAGGER, "value"), State(ids.REVISION, "data"),
          prevent_initial_call=True)
@on_refusal(False, no_update, error_alert)
def confirm_delete(_clicks, label_id, dataset_id, tagger, revision):
    with write_session() as session:
        delete_label(session, dataset_id, label_id, tagger_or_default(tagger), confirm=True)
    return False, _bump(revision), None
