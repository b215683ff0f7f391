"""Your account: who you are, your role, and the API tokens your scripts use."""
import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from auth.identity import current_identity
from callbacks.ids import Profile as ids

dash.register_page(__name__, path="/profile", title="Profile · beamlabel", name="Profile",
                   order=9, in_navbar=False)


def layout(**_query):
    identity = current_identity()
    if identity.user_id is None:
        return dbc.Alert("This app has no accounts: it is yours alone (BEAMLABEL_AUTH=none), "
                         "and REST calls need no token.", color="info", id="profile-local")
    return dbc.Row(dbc.Col([
        html.H4(identity.name, id="profile-name"),
        html.P(f"Role: {identity.role}", className="text-muted", id="profile-role"),
        html.H5("API tokens", className="mt-4"),
        html.P("A script sends one as the header 'Authorization: Bearer <token>'. The token "
               "is shown once, when it is made; revoke it when it is no longer needed.",
               className="small text-muted"),
        dbc.InputGroup([
            dbc.Input(id=ids.TOKEN_NAME, placeholder="what it is for, e.g. beamline script",
                      maxlength=100),
            dbc.Button("Make token", id=ids.CREATE, color="primary"),
        ], className="mb-2", style={"maxWidth": "520px"}),
        html.Div(id=ids.FEEDBACK),
        html.Div(id=ids.NEW_TOKEN),
        html.Div(id=ids.TOKENS, className="mt-3"),
        dcc.Store(id=ids.CHANGED, data=0),
    ], lg=8))
