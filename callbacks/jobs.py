"""Behaviour of the all-jobs page: its filters (data set, kinds, statuses) of the panel."""
from __future__ import annotations

from dash import Input, Output, callback

from callbacks.common import dataset_choices
from callbacks.ids import AllJobs as ids
from callbacks.ids import JobsPanel
from db.jobs import STATUSES
from db.models import MAX_ROW_ID
from ml.kinds import JOB_KINDS


@callback(Output(ids.DATASET, "options"), Input(ids.DATASET, "id"))
def list_datasets(_id):
    return [{"label": "All data sets", "value": ids.EVERY_DATASET}, *dataset_choices()[0]]


def _known(chosen, known) -> list[str] | None:
    """The ticked names that exist; None (no filter) when none is ticked."""
    return [name for name in chosen or [] if name in known] or None


@callback(Output(JobsPanel.id(JobsPanel.FILTER, ids.SCOPE), "data"),
          Input(ids.DATASET, "value"), Input(ids.KIND, "value"), Input(ids.STATUS, "value"))
def filter_jobs(dataset_id, kinds, statuses):
    """Nothing chosen in a filter: every data set (kind, status)."""
    text = str(dataset_id or "")
    chosen = int(text) if text.isdigit() and int(text) <= MAX_ROW_ID else None
    return {"dataset_id": chosen, "kinds": _known(kinds, JOB_KINDS),
            "statuses": _known(statuses, STATUSES)}
