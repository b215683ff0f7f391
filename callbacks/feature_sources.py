"""Behaviour of the autoencoder page's feature sources card (pages/_feature_sources.py): the
chosen kind's fields, and its job started like the page's train button, listed in the
page's jobs panel."""
from dash import ALL, Input, Output, State, callback

from callbacks.common import fields_of, shown_group
from callbacks.ids import Autoencoder as ids
from callbacks.ids import JobsPanel
from callbacks.job_launch import field_messages, launch_training

GROUPS = {"type": ids.FEATURE_GROUP, "index": ALL}
FIELDS = {"type": ids.FEATURE_FIELD, "index": ALL}
PANEL_CHANGED = JobsPanel.id(JobsPanel.CHANGED, ids.SCOPE)


@callback(Output(GROUPS, "style"), Input(ids.FEATURE_KIND, "value"), State(GROUPS, "id"))
def show_fields_of_kind(kind, group_ids):
    return shown_group(kind, group_ids)


@callback(Output(ids.FEATURE_FEEDBACK, "children"),
          Output(PANEL_CHANGED, "data", allow_duplicate=True),
          Output({"type": ids.FEATURE_FIELD_ERROR, "index": ALL}, "children"),
          Input(ids.FEATURE_RUN, "n_clicks"), State(ids.FEATURE_KIND, "value"),
          State(FIELDS, "value"), State(FIELDS, "id"), State(ids.DATASET, "value"),
          State(PANEL_CHANGED, "data"), prevent_initial_call=True)
def compute_features(_clicks, kind, values, field_ids, dataset_id, changed):
    return launch_training(kind, dataset_id, fields_of(kind, values, field_ids), changed,
                           lambda error: field_messages(error, field_ids, f"{kind}."))
