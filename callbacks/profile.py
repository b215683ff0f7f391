"""The profile page: make and revoke one's own API tokens."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, html, no_update

from auth.accounts import create_token, remove_token
from auth.identity import current_identity
from callbacks.common import clicked_index, error_alert, on_refusal, read_session, write_session
from callbacks.ids import Profile as ids
from db.users import tokens_of


@callback(Output(ids.TOKENS, "children"), Input(ids.CHANGED, "data"))
def list_tokens(_changed):
    user_id = current_identity().user_id
    if user_id is None:
        return no_update
    with read_session() as session:
        tokens = tokens_of(session, user_id)
        rows = [html.Tr([html.Td(token.name), html.Td(f"{token.created_at:%Y-%m-%d %H:%M}"),
                         html.Td(f"{token.last_used_at:%Y-%m-%d %H:%M}"
                                 if token.last_used_at else "never"),
                         html.Td(dbc.Button("Revoke", id={"type": ids.REVOKE, "index": token.id},
                                            size="sm", color="outline-danger"))])
                for token in tokens]
    if not rows:
        return html.Small("No tokens.", className="text-muted")
    head = html.Thead(html.Tr([html.Th("Token"), html.Th("Made"), html.Th("Last used"),
                               html.Th("")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", className="w-auto")


@callback(Output(ids.NEW_TOKEN, "children"), Output(ids.CHANGED, "data"),
          Output(ids.FEEDBACK, "children"),
          Input(ids.CREATE, "n_clicks"), State(ids.TOKEN_NAME, "value"),
          State(ids.CHANGED, "data"), prevent_initial_call=True)
@on_refusal(no_update, no_update, error_alert)
def make_token(_clicks, name, changed):
    with write_session() as session:
        token, secret = create_token(session, current_identity().user_id, name or "token")
        title = token.name
    shown = dbc.Alert([html.Div(f"Token '{title}' (copy it now: it is not shown again):"),
                       html.Code(secret, id="profile-token-secret")], color="success")
    return shown, changed + 1, None


@callback(Output(ids.CHANGED, "data", allow_duplicate=True),
          Output(ids.FEEDBACK, "children", allow_duplicate=True),
          Output(ids.NEW_TOKEN, "children", allow_duplicate=True),
          Input({"type": ids.REVOKE, "index": ALL}, "n_clicks"), State(ids.CHANGED, "data"),
          prevent_initial_call=True)
@on_refusal(no_update, error_alert, no_update)
def revoke(clicks, changed):
    token_id = clicked_index(clicks)
    with write_session() as session:
        token = remove_token(session, current_identity().user_id, token_id)
        name = token.name
    return changed + 1, dbc.Alert(f"Token '{name}' revoked.", color="info", duration=4000), None
