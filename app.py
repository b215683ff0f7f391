"""The beamlabel Dash app factory and the ``beamlabel`` launcher."""
from __future__ import annotations

from pathlib import Path

import dash
import dash_bootstrap_components as dbc
import flask_bootstrap
from flask import send_from_directory
from flask_openapi3 import Info, OpenAPI

from services import build_services
from settings import Settings, load_settings

__version__ = "0.1.0"
ROOT = Path(__file__).resolve().parent
# Bootstrap's CSS and icons ship inside the Bootstrap-Flask package: pages work offline.
VENDOR_DIR = Path(flask_bootstrap.__file__).parent / "static" / "bootstrap5"
STYLESHEETS = ["/vendor/css/bootstrap.min.css", "/vendor/icons/bootstrap-icons.min.css"]


def create_server(settings: Settings) -> OpenAPI:
    """The Flask server: REST API (with its OpenAPI document), thumbnails, vendored CSS."""
    import api
    import thumbs

    server = OpenAPI(__name__, info=Info(title="beamlabel API", version=__version__),
                     doc_prefix="/api/v1", doc_url="/openapi.json")
    server.config["SECRET_KEY"] = settings.secret_key
    build_services(settings, server)
    api.register(server)
    server.register_blueprint(thumbs.blueprint)

    @server.route("/vendor/<path:filename>")
    def vendor(filename: str):
        return send_from_directory(VENDOR_DIR, filename, max_age=30 * 24 * 3600)

    return server


def create_app(settings: Settings | None = None, *, resume_scans: bool = True) -> dash.Dash:
    """Build the whole app (call once per process: Dash keeps pages in a global registry)."""
    settings = settings or load_settings()
    server = create_server(settings)
    app = dash.Dash(__name__, server=server, use_pages=True, pages_folder=str(ROOT / "pages"),
                    title="beamlabel", update_title=None, suppress_callback_exceptions=True,
                    external_stylesheets=STYLESHEETS)
    import callbacks  # noqa: F401  (registers every page's callbacks with dash.callback)
    from pages.shell import shell_layout

    app.layout = shell_layout
    if resume_scans:
        server.extensions["beamlabel"].resume_scans()
    return app


def create_wsgi():
    """Entry point for ``gunicorn 'app:create_wsgi()'`` (settings from the environment)."""
    return create_app().server
