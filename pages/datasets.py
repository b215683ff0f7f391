"""Data sets: register a folder under the data roots or a Tiled server, see items and problems."""
import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.ids import Datasets as ids

dash.register_page(__name__, path="/", title="Data sets · beamlabel", name="Data sets",
                   order=0)


def _folder_tab():
    return dbc.Tab(label="Folder", tab_id="directory", children=html.Div([
        dbc.Label("Folder (under the data roots)", html_for=ids.FOLDER, className="mt-2"),
        dbc.Input(id=ids.FOLDER, type="text", debounce=True, placeholder="/path/to/images"),
        dbc.FormText("Click a sub-folder to go into it; every PNG, JPEG and TIFF below the "
                     "folder is registered (multi-frame TIFF: one item per frame)."),
        dbc.ListGroup(id=ids.FOLDER_LIST, className="mt-2 folder-list",
                      style={"maxHeight": "220px", "overflowY": "auto"}),
    ]))


def _tiled_tab():
    return dbc.Tab(label="Tiled server", tab_id="tiled", children=html.Div([
        dbc.Label("Tiled URI", html_for=ids.TILED_URI, className="mt-2"),
        dbc.Input(id=ids.TILED_URI, type="url",
                  placeholder="http://host:8000/api/v1/metadata/beamline/run"),
        dbc.Label("API key (optional, kept on the server)", html_for=ids.TILED_KEY,
                  className="mt-2"),
        dbc.Input(id=ids.TILED_KEY, type="password", autoComplete="off"),
    ]))


def _replay_card():
    return dbc.Card([
        dbc.CardHeader("Replay a data set as live"),
        dbc.CardBody([
            html.P("Its images arrive again one by one, in the order they came, in a new live "
                   "data set: to try the live views and attached models, or to go through an "
                   "experiment as it ran.", className="small text-muted"),
            dbc.Label("Data set", html_for=ids.REPLAY_SOURCE),
            dcc.Dropdown(id=ids.REPLAY_SOURCE, clearable=False),
            dbc.Label("Images per second", html_for=ids.REPLAY_RATE, className="mt-2"),
            dbc.Input(id=ids.REPLAY_RATE, type="number", min=0.1, max=1000, step="any",
                      value=10),
            dbc.Button("Replay", id=ids.REPLAY, color="secondary", className="mt-3"),
        ]),
    ], className="mt-3")


def layout(**_query):
    register_card = dbc.Card([
        dbc.CardHeader("Register a data set"),
        dbc.CardBody([
            dbc.Label("Name", html_for=ids.NAME),
            dbc.Input(id=ids.NAME, type="text", placeholder="e.g. beamtime 2026-11 sample A"),
            dbc.Tabs([_folder_tab(), _tiled_tab()], id=ids.SOURCE_TABS, active_tab="directory",
                     className="mt-3"),
            dbc.Button("Register", id=ids.REGISTER, color="primary", className="mt-3"),
            dcc.Loading(html.Div(id=ids.FEEDBACK, className="mt-3")),
        ]),
    ])
    demo_card = dbc.Card(dbc.CardBody([
        html.H5("No data yet?"),
        html.P("Create a demo data set: synthetic X-ray scattering patterns (empty, rings, "
               "arcs, peaks, streaks and mixtures) as 16-bit TIFFs, with the true classes in "
               "truth.csv."),
        dbc.Button("Create the demo data set", id=ids.DEMO, color="success"),
    ]), id=ids.DEMO_CARD, className="mb-3")
    return dbc.Row([
        dbc.Col([html.H3("Data sets"), demo_card,
                 dcc.Loading(html.Div(id=ids.TABLE))], lg=7),
        dbc.Col([register_card, _replay_card()], lg=5),
        dcc.Interval(id=ids.REFRESH, interval=1500, disabled=False),
        dcc.Location(id=ids.OPEN_PAGE, refresh="callback-nav"),
    ])
