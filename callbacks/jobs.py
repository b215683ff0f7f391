"""Behaviour of the all-jobs page: the data-set filter of its jobs panel."""
from __future__ import annotations

from dash import Input, Output, callback

from callbacks.common import dataset_choices, register_jobs_filter
from callbacks.ids import AllJobs as ids


@callback(Output(ids.DATASET, "options"), Input(ids.DATASET, "id"))
def list_datasets(_id):
    return dataset_choices()[0]


register_jobs_filter(ids.SCOPE, ids.DATASET)
