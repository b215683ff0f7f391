"""The frame around every page: navigation bar and the page container."""
import dash
import dash_bootstrap_components as dbc
from dash import html

NAV_LINKS = (("Data sets", "/"), ("Label", "/label"), ("Autoencoder", "/autoencoder"),
             ("Classifier", "/classifier"), ("Explorer", "/explorer"), ("Jobs", "/jobs"))


def shell_layout():
    navbar = dbc.Navbar(
        dbc.Container([
            dbc.NavbarBrand([html.I(className="bi bi-bullseye me-2"), "beamlabel"], href="/"),
            dbc.Nav([dbc.NavLink(name, href=href, active="exact") for name, href in NAV_LINKS],
                    navbar=True),
        ], fluid=True),
        color="dark", dark=True, className="mb-3")
    return html.Div([navbar, dbc.Container(dash.page_container, fluid=True)])
