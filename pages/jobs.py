"""All jobs: every training, inference and analysis job, of one data set or of all."""
import dash
import dash_bootstrap_components as dbc
from dash import dcc

from callbacks.ids import AllJobs as ids
from pages._jobs_panel import jobs_panel

dash.register_page(__name__, path="/jobs", title="Jobs · beamlabel", name="Jobs", order=5)


def layout(**_query):
    return dbc.Row(dbc.Col([
        dcc.Dropdown(id=ids.DATASET, placeholder="All data sets", className="mb-3",
                     style={"maxWidth": "420px"}),
        jobs_panel(ids.SCOPE, title="All jobs"),
    ], lg=10))
