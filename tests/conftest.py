from tests.databases import database_url, session_factory  # noqa: F401
from tests.browser import (browser, browser_settings, pytest_setup_options,  # noqa: F401,E402
                           running_app, running_app_with_worker, worker_browser)
from tests.tiled_server import tiled_server  # noqa: F401
