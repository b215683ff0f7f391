"""The beamlabel Dash app factory and the ``beamlabel`` launcher.

As the main module, this one is imported again by the forkserver that the render and scan
workers fork from: the web stack (Dash, the API, Celery) is imported inside the functions
that build the app, so that the workers are ready in a fraction of a second, not after
the 1.4 s those imports take.
"""
from __future__ import annotations

import argparse
import atexit
import gc
import os
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from data.render_workers import WORKER_MODULES as RENDER_WORKER_MODULES
from data.scan_pool import WORKER_MODULES as SCAN_WORKER_MODULES
from data.sources import SourceError
from data.worker_processes import at_exit_before_pools, start_forkserver
from errors import DomainError
from settings import (DEFAULT_SECRET_KEY, LOOPBACK_HOSTS, SETTINGS_TABLE, Settings, load_settings,
                      settings_environment)

if TYPE_CHECKING:
    import dash
    from flask_openapi3 import OpenAPI

    from worker import LocalWorker

__version__ = "0.1.0"
ROOT = Path(__file__).resolve().parent
DEMO_IMAGES = 600
STYLESHEETS = ["/vendor/css/bootstrap.min.css", "/vendor/css/font/bootstrap-icons.min.css"]


def create_server(settings: Settings) -> OpenAPI:
    """The Flask server: REST API (with its OpenAPI document), thumbnails, job images, CSS."""
    import flask_bootstrap
    from flask import send_from_directory
    from flask_openapi3 import Info, OpenAPI

    import api
    from api.blueprints import SECURITY_SCHEMES
    from api.error_answers import domain_error_answer
    from auth import guard, login
    from services import build_services

    if settings.auth != "none" and settings.secret_key == DEFAULT_SECRET_KEY:
        raise ValueError("with accounts the login cookie is signed with the secret key: set "
                         "BEAMLABEL_SECRET_KEY to a long random value (e.g. the output of "
                         "'python -c \"import secrets; print(secrets.token_hex(32))\"')")
    server = OpenAPI(__name__, info=Info(title="beamlabel API", version=__version__),
                     doc_prefix="/api/v1", doc_url="/openapi.json",
                     security_schemes=SECURITY_SCHEMES)
    server.config["SECRET_KEY"] = settings.secret_key
    build_services(settings, server)
    guard.install(server)
    api.register(server)
    server.register_blueprint(login.blueprint)
    # a refusal that a page's callback does not show itself still answers 4xx, as the API does
    server.register_error_handler(DomainError, domain_error_answer)

    # Bootstrap's CSS and icons ship inside the Bootstrap-Flask package: pages work offline.
    vendor_dir = Path(flask_bootstrap.__file__).parent / "static" / "bootstrap5"

    @server.route("/vendor/<path:filename>")
    def vendor(filename: str):
        return send_from_directory(vendor_dir, filename, max_age=30 * 24 * 3600)

    return server


def create_app(settings: Settings | None = None, *, resume_scans: bool = True) -> dash.Dash:
    """Build the whole app (call once per process: Dash keeps pages in a global registry)."""
    import dash

    settings = settings or load_settings()
    server = create_server(settings)
    app = dash.Dash(__name__, server=server, use_pages=True, pages_folder=str(ROOT / "pages"),
                    title="beamlabel", update_title=None, suppress_callback_exceptions=True,
                    external_stylesheets=STYLESHEETS)
    # Importing a callbacks module registers its callbacks with dash.callback.
    from callbacks import (autoencoder, classifier, datasets, explorer,  # noqa: F401
                           feature_sources, jobs, jobs_panel, label, label_classes,
                           label_follow, label_guided, label_history, label_retrain_loop,
                           label_similarity, label_suggestions, label_viewer, models,
                           profile)
    from auth import guard
    from pages._shell import shell_layout

    app.layout = shell_layout
    server.extensions[guard.DASH_EXTENSION] = app  # for the guard: callbacks, inline scripts
    services = server.extensions["beamlabel"]
    services.check_jobs()  # jobs left running by a worker that died while the app was down
    if services.scan_pool is not None:
        at_exit_before_pools(services.scan_pool.close)  # its processes end with the app
    if resume_scans:
        services.resume_scans()
        services.resume_live_watches()
        atexit.register(services.stop_live_watches)  # gives the watches' leases back
    return app


def _parser() -> argparse.ArgumentParser:
    epilog = "settings (flag overrides variable):\n" + "\n".join(
        f"  {var:<24} {flag:<15} {meaning} (default: {default})"
        for var, flag, meaning, default in SETTINGS_TABLE)
    parser = argparse.ArgumentParser(
        prog="beamlabel", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=epilog,
        description="Label large image data sets fast, with models trained in the same app. "
                    "With no arguments: start the app on http://127.0.0.1:8050 with SQLite "
                    "and a local worker.")
    parser.add_argument("command", nargs="?", choices=["run", "serve", "user"], default="run",
                        help="run (default): one-user local app; serve: shared server with "
                             "gunicorn and accounts (start Celery workers separately); user: "
                             "add or change accounts (beamlabel user --help)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8050, help="port to listen on")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="register this image folder (if new) and open it")
    parser.add_argument("--demo", action="store_true",
                        help="create the demo data set in $BEAMLABEL_HOME/demo and open it")
    parser.add_argument("--demo-size", type=int, default=DEMO_IMAGES, metavar="N",
                        help=f"number of demo images (default {DEMO_IMAGES})")
    parser.add_argument("--workers", type=int, default=4,
                        help="gunicorn worker processes for 'serve'")
    parser.add_argument("--no-worker", action="store_true",
                        help="'run' without starting its local Celery worker (jobs then wait "
                             "for a worker started separately)")
    for _var, flag, meaning, _default in SETTINGS_TABLE:
        parser.add_argument(flag, dest=flag[2:].replace("-", "_"), help=meaning)
    return parser


def _open_target(args: argparse.Namespace, settings: Settings) -> str:
    """Register ``--data`` / ``--demo`` and return the path of the page to open."""
    if not (args.demo or args.data):
        return "/"
    from data.catalog import ensure_demo_dataset, ensure_directory_dataset
    from db.session import open_database

    engine, session_factory = open_database(settings)
    try:
        if args.demo:
            dataset_id = ensure_demo_dataset(session_factory, settings, args.demo_size)
        else:
            dataset_id = ensure_directory_dataset(session_factory, settings, args.data)
    finally:
        engine.dispose()
    return f"/label?dataset={dataset_id}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["user"]:
        from auth import cli

        return cli.main(argv[1:])
    args = _parser().parse_args(argv)
    overrides = {flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_"))
                 for _var, flag, _meaning, _default in SETTINGS_TABLE}
    if args.command == "serve":  # a shared server: accounts and HTTPS cookies unless told
        overrides = {"auth": os.environ.get("BEAMLABEL_AUTH") or "accounts",
                     "secure_cookies": os.environ.get("BEAMLABEL_SECURE_COOKIES") or "1",
                     **{name: value for name, value in overrides.items() if value is not None}}
    try:
        settings = load_settings(**overrides)
        if args.data:
            settings = settings.with_data_roots(args.data)
        if args.command == "serve":
            check_serve_settings(settings, args.host)
        check_port_free(args.host, args.port)
        target = _open_target(args, settings)
    except (DomainError, SourceError, ValueError, OSError) as error:
        print(f"beamlabel: {error}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve_gunicorn(args, settings)
    app = serving_app(settings)
    print(f"beamlabel {__version__}: open http://{args.host}:{args.port}{target}  "
          f"(data home {settings.home}; Ctrl+C stops)", flush=True)
    worker = None if args.no_worker else _start_local_worker(app, settings)
    # SIGTERM must unwind like Ctrl+C, so that the worker is stopped too.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    import waitress

    try:
        waitress.serve(app.server, host=args.host, port=args.port, threads=8, _quiet=True)
    except KeyboardInterrupt:
        pass
    finally:
        if worker is not None:
            worker.stop()
    return 0


def check_serve_settings(settings: Settings, host: str) -> None:
    """A shared server refuses to start open to everyone or with a guessable key."""
    if settings.auth == "none":
        raise ValueError("'serve' is a shared server: it needs BEAMLABEL_AUTH=accounts (or "
                         "proxy); use 'beamlabel run' for a one-user app")
    if settings.secret_key == DEFAULT_SECRET_KEY:
        raise ValueError("'serve' needs its own secret key: set BEAMLABEL_SECRET_KEY to a long "
                         "random value")
    if settings.data_roots == (Path.home().resolve(), settings.home):
        raise ValueError("'serve' reads data only from folders you name: set "
                         "BEAMLABEL_DATA_ROOTS to the lab's data folders (the default, your "
                         "whole home folder, is for the one-user app)")
    every_address = host in ("0.0.0.0", "::")
    if (every_address and settings.allowed_hosts == LOOPBACK_HOSTS) or \
            (not every_address and host not in settings.allowed_hosts):
        raise ValueError(f"the server listens on {host} but answers only to the host names "
                         f"{', '.join(settings.allowed_hosts)}: set BEAMLABEL_ALLOWED_HOSTS to "
                         "the names users type to reach it")


def check_port_free(host: str, port: int) -> None:
    """Say so before starting when another program (often a beamlabel started earlier)
    holds the port, instead of a server's retries and traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ValueError(f"cannot listen on {host}:{port} ({error.strerror}): another "
                             "program, perhaps a beamlabel started earlier, uses it; stop it "
                             "or choose another port with --port") from error


def _start_local_worker(app: dash.Dash, settings: Settings) -> LocalWorker:
    """The one Celery worker of a local app, watched (the jobs panel shows what its watch
    says)."""
    from worker import LocalWorker

    services = app.server.extensions["beamlabel"]
    services.local_worker = LocalWorker(settings, services.session_factory)
    return services.local_worker


def _serve_gunicorn(args: argparse.Namespace, settings: Settings) -> int:
    env = dict(os.environ, **settings_environment(settings))
    command = [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--threads", "4",
               "--bind", f"{args.host}:{args.port}", "--chdir", str(ROOT), "app:create_wsgi()"]
    # gunicorn takes this process's place, so that a signal to `beamlabel serve` (Ctrl+C,
    # a service manager's stop) reaches it and its workers are not left running.
    os.execve(sys.executable, command, env)
    return 0  # not reached


def create_wsgi():
    """Entry point for ``gunicorn 'app:create_wsgi()'`` (settings from the environment)."""
    return serving_app().server


def serving_app(settings: Settings | None = None) -> dash.Dash:
    """The app built to serve, as the launcher and gunicorn do."""
    # What the render and scan workers fork from starts first, so that they run when the
    # app serves: they were ready 1.4 s after, and the first pages' thumbnails rendered in
    # the web process's threads meanwhile (bench_cold_page: PNG pages 150-160 ms, 100 once
    # the workers ran).
    start_forkserver(RENDER_WORKER_MODULES + SCAN_WORKER_MODULES)
    from api.thumbnail_renders import start_renders

    app = create_app(settings)
    start_renders(app.server)  # the first page's thumbnails need not wait for their workers
    # What start-up made (modules, Dash's registries and layouts; kept for the process's
    # life) leaves the garbage collector's view: each full collection walked it all, an
    # 80 ms pause in the middle of a page's thumbnail requests.
    gc.collect()
    gc.freeze()
    return app


if __name__ == "__main__":
    raise SystemExit(main())
