"""The frame around every page: navigation bar and the page container.

The navigation bar lists ``dash.page_registry``: each page's name, path and place (its
``order``) are given once, in its own ``dash.register_page``."""
import dash
import dash_bootstrap_components as dbc
from dash import html


def shell_layout():
    links = [dbc.NavLink(page["name"], href=page["relative_path"], active="exact")
             for page in dash.page_registry.values()]
    navbar = dbc.Navbar(
        dbc.Container([
            dbc.NavbarBrand([html.I(className="bi bi-bullseye me-2"), "beamlabel"], href="/"),
            dbc.Nav(links, navbar=True),
        ], fluid=True),
        color="dark", dark=True, className="mb-3")
    return html.Div([navbar, dbc.Container(dash.page_container, fluid=True)])
