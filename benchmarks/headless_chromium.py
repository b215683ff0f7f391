"""The headless Chromium the browser benchmarks drive, at the window size of the issue's
trials (1600×1000), with the console's errors kept for reading."""
from __future__ import annotations

WINDOW = (1600, 1000)


def start_chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 f"--window-size={WINDOW[0]},{WINDOW[1]}", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    return webdriver.Chrome(options=options)
