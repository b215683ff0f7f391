"""The frame around every page: navigation bar and the page container.

The navigation bar lists ``dash.page_registry``: each page's name, path and place (its
``order``) are given once, in its own ``dash.register_page`` (``in_navbar=False`` leaves a
page out). With accounts, the bar ends with the user's name (their profile) and Log out."""
import dash
import dash_bootstrap_components as dbc
from dash import dcc, html
from flask import g, has_request_context

from auth.guard import CSRF_FIELD, csrf_token


def _account_menu():
    identity = g.get("identity") if has_request_context() else None
    if identity is None or identity.user_id is None:  # no accounts, or Dash checking the layout
        return None
    return html.Form([
        dbc.NavLink([html.I(className="bi bi-person-circle me-1"), identity.name],
                    href="/profile", id="shell-user", className="text-light d-inline me-2"),
        dcc.Input(type="hidden", name=CSRF_FIELD, value=csrf_token()),
        dbc.Button("Log out", id="shell-logout", type="submit", size="sm", color="secondary"),
    ], action="/logout", method="POST", className="ms-auto d-flex align-items-center")


def shell_layout():
    links = [dbc.NavLink(page["name"], href=page["relative_path"], active="exact")
             for page in dash.page_registry.values() if page.get("in_navbar", True)]
    navbar = dbc.Navbar(
        dbc.Container([
            dbc.NavbarBrand([html.I(className="bi bi-bullseye me-2"), "beamlabel"], href="/"),
            dbc.Nav(links, navbar=True),
            _account_menu(),
        ], fluid=True),
        color="dark", dark=True, className="mb-3")
    return html.Div([navbar, dbc.Container(dash.page_container, fluid=True)])
