"""All jobs: every training, inference and analysis job, filtered by data set, kind and
status."""
import dash
import dash_bootstrap_components as dbc
from dash import html

from callbacks.ids import AllJobs as ids
from db.jobs import STATUSES
from ml.kinds import JOB_KINDS
from pages._jobs_panel import jobs_panel

dash.register_page(__name__, path="/jobs", title="Jobs · beamlabel", name="Jobs", order=5)


def _checklist(component_id: str, title: str, options):
    """Boxes to tick; none ticked shows every one."""
    return dbc.Row([
        dbc.Label(title, width=2, className="small fw-semibold"),
        dbc.Col(dbc.Checklist(id=component_id, options=list(options), value=[], inline=True,
                              className="small"), width=10),
    ], className="mb-1")


def _filters():
    return dbc.Card(dbc.CardBody([
        dbc.Row([
            dbc.Label("Data set", html_for=ids.DATASET, width=2, className="small fw-semibold"),
            dbc.Col(dbc.Select(id=ids.DATASET, size="sm", value=ids.EVERY_DATASET,
                               options=[]), width=6),
        ], className="mb-1"),
        _checklist(ids.KIND, "Kind", sorted(JOB_KINDS)),
        _checklist(ids.STATUS, "Status", STATUSES),
        html.Div("Nothing ticked in a row shows all of them.", className="form-text"),
    ]), className="mb-3")


def layout(**_query):
    return dbc.Row(dbc.Col([_filters(), jobs_panel(ids.SCOPE, title="All jobs")], lg=10))
