"""Behaviour of the all-jobs page: the data-set filter of its jobs panel."""
from __future__ import annotations

from dash import Input, Output, State, callback

from callbacks.common import dataset_choices
from callbacks.ids import AllJobs as ids
from callbacks.ids import JobsPanel

PANEL_FILTER = JobsPanel.id(JobsPanel.FILTER, ids.SCOPE)


@callback(Output(ids.DATASET, "options"), Input(ids.DATASET, "id"))
def list_datasets(_id):
    return dataset_choices()[0]


@callback(Output(PANEL_FILTER, "data"), Input(ids.DATASET, "value"), State(PANEL_FILTER, "data"))
def filter_by_dataset(dataset_id, job_filter):
    return {**(job_filter or {}), "dataset_id": dataset_id}
