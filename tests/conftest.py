import pytest

from tests.databases import database_url, session_factory  # noqa: F401
from tests.browser import (browser, browser_settings, pytest_setup_options,  # noqa: F401,E402
                           running_app, running_app_with_worker, worker_browser)
from tests.tiled_server import tiled_server  # noqa: F401

# A test that asks for one of these drives Chromium: `pytest -m "not browser"` skips it.
BROWSER_FIXTURES = {"dash_br", "dash_duo", "browser", "worker_browser"}


def pytest_collection_modifyitems(items):
    for item in items:
        if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)
