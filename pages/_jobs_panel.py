"""The jobs panel every page that runs jobs shows: list, details, cancel and delete.

``jobs_panel(scope, kinds)`` is placed in a page's layout; callbacks/jobs_panel.py gives it
its behaviour. The page tells the panel its data set (and, on the jobs page, kinds and
statuses) through the FILTER store, and bumps the CHANGED store (with
``{"select": job_id}``) after starting a job.
"""
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.ids import JobsPanel as ids

POLL_MILLISECONDS = 1500


def _delete_confirmation(scope: str):
    """The dialog Delete opens: what deleting the job loses, Keep or Delete."""
    return dbc.Modal([
        dbc.ModalHeader(dbc.ModalTitle("Delete this job?")),
        dbc.ModalBody(html.Div(id=ids.id(ids.CONFIRM_TEXT, scope))),
        dbc.ModalFooter([
            dbc.Button("Keep it", id=ids.id(ids.CONFIRM_KEEP, scope), color="secondary",
                       outline=True),
            dbc.Button([html.I(className="bi bi-trash me-1"), "Delete for good"],
                       id=ids.id(ids.CONFIRM_DELETE, scope), color="danger"),
        ]),
    ], id=ids.id(ids.CONFIRM_MODAL, scope), is_open=False, fade=False)


def jobs_panel(scope: str, kinds: tuple[str, ...] | None = None, title: str = "Jobs",
               selected: int | None = None):
    """A card with the jobs of one data set (or all) of ``kinds`` (or every kind);
    ``selected``: the job to select first (e.g. named in the page's URL)."""
    return dbc.Card([
        dbc.CardHeader(html.Div([
            html.Span(title, className="fw-semibold"),
            dbc.ButtonGroup([
                dbc.Button([html.I(className="bi bi-stop-circle me-1"), "Cancel"],
                           id=ids.id(ids.CANCEL, scope), color="warning", outline=True,
                           size="sm", title="stop the selected job at its next batch"),
                dbc.Button([html.I(className="bi bi-trash me-1"), "Delete"],
                           id=ids.id(ids.DELETE, scope), color="danger", outline=True,
                           size="sm",
                           title="delete the selected job and its files (asks first)"),
            ]),
        ], className="d-flex justify-content-between align-items-center")),
        dbc.CardBody([
            dcc.Store(id=ids.id(ids.FILTER, scope),
                      data={"dataset_id": None, "kinds": list(kinds) if kinds else None}),
            dcc.Store(id=ids.id(ids.CHANGED, scope), data={"n": 0}),
            dcc.Interval(id=ids.id(ids.POLL, scope), interval=POLL_MILLISECONDS,
                         disabled=True),
            html.Div(id=ids.id(ids.FEEDBACK, scope)),
            dcc.Store(id=ids.id(ids.SELECTED, scope), data=selected),
            dcc.Store(id=ids.id(ids.CONFIRM_JOB, scope)),
            _delete_confirmation(scope),
            html.Div(id=ids.id(ids.LIST, scope), className="jobs-list"),
            html.Div(id=ids.id(ids.DETAIL, scope), className="mt-2"),
        ]),
    ], className="mb-3")
