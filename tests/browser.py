"""Browser-test set-up: headless Chromium flags for a closed network, and app settings."""
from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.chrome.options import Options

from settings import Settings

ARTIFACTS = Path(__file__).parent / "artifacts"


def pytest_setup_options():
    """dash_duo's hook: Chromium options that keep it off the network it cannot reach."""
    options = Options()
    for flag in ("--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    return options


@pytest.fixture
def browser_settings(tmp_path: Path) -> Settings:
    """Settings for an app under test: its own data home, database and cache in tmp_path."""
    return Settings(home=tmp_path / "home", data_roots=(tmp_path,), tagger="tester")


def save_screenshot(dash_duo, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    dash_duo.driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
