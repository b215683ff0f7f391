"""Browser-test set-up: headless Chromium flags for a closed network, and app settings."""
from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from dash.testing.wait import until
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from data.demo import generate_demo
from settings import Settings, settings_environment

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 60
JOB_TIMEOUT = 240  # seconds a job started from a page may take; CI shares its CPU with the browser

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


def call_api(base: str, path: str, payload=None, method: str | None = None):
    """A JSON request to the app's REST API (GET, or POST when ``payload`` is given, unless
    ``method`` says otherwise)."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        body = answer.read()
    return json.loads(body) if answer.headers.get_content_type() == "application/json" else body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"beamlabel exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers (a server with accounts asks for a login first)
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"beamlabel did not answer within {START_TIMEOUT_SECONDS} s:\n"
                       f"{log.read_text()}")


@contextmanager
def launched_app(settings: Settings, tmp_path: Path, with_worker: bool):
    """The real launcher (``beamlabel``) in its own process; yields its base URL.

    A process per test, because Dash keeps pages and callbacks in process-wide registries
    that only the first app of a process gets.
    """
    port = free_port()
    log = tmp_path / "beamlabel.log"
    env = dict(os.environ, **settings_environment(settings))
    command = [sys.executable, "-m", "app", "--port", str(port)]
    with log.open("w") as out:
        process = subprocess.Popen(command + ([] if with_worker else ["--no-worker"]), cwd=ROOT,
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url + "/api/v1/datasets", process, log)
        yield url
    finally:
        process.terminate()  # the launcher stops its worker on the way out
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def running_app(browser_settings: Settings, tmp_path: Path):
    """The app without a Celery worker, for pages that run no jobs."""
    with launched_app(browser_settings, tmp_path, with_worker=False) as url:
        yield url


@pytest.fixture
def running_app_with_worker(browser_settings: Settings, tmp_path: Path):
    """The app as `beamlabel` starts it: web server plus its local Celery worker."""
    with launched_app(browser_settings, tmp_path, with_worker=True) as url:
        yield url


@pytest.fixture
def browser(dash_br, running_app):
    """dash's browser fixture, pointed at the running app."""
    dash_br.server_url = running_app
    return dash_br


@pytest.fixture
def worker_browser(dash_br, running_app_with_worker):
    """dash's browser fixture, pointed at an app whose worker runs jobs."""
    dash_br.server_url = running_app_with_worker
    return dash_br


def demo_in_app(app: str, folder: Path, n_images: int, size: int, seed: int,
                classes: tuple[str, ...]) -> tuple[int, dict[str, str], dict[str, int]]:
    """Demo images of ``classes`` in ``folder``, registered in the running ``app`` and
    scanned, with a label class per name: (data set id, true class by path, label ids by
    name)."""
    generate_demo(folder, n_images=n_images, size=size, seed=seed, classes=classes)
    with open(folder / "truth.csv", newline="") as handle:
        truth = {row["path"]: row["label"] for row in csv.DictReader(handle)}
    dataset_id = call_api(app, "/api/v1/datasets", {
        "name": folder.name, "source": {"kind": "directory", "path": str(folder)}})["id"]
    until(lambda: call_api(app, f"/api/v1/datasets/{dataset_id}")["status"] == "ready",
          timeout=30)
    labels = {name: call_api(app, f"/api/v1/datasets/{dataset_id}/labels",
                             {"name": name})["id"] for name in classes}
    return dataset_id, truth, labels


# --- reading and driving pages -------------------------------------------------------------

def text_of(browser, selector: str) -> str:
    """The text of the first element matching ``selector`` ('' while there is none)."""
    return browser.driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", selector)


def captions(browser) -> list[str]:
    """The gallery's tile captions, read in one go (tiles are re-drawn after every event)."""
    return browser.driver.execute_script(
        "return [...document.querySelectorAll('#label-grid .thumb-caption')]"
        ".map(c => c.innerText)")


def tile_items(browser) -> list[int]:
    """The item ids of the gallery's tiles, in order, read in one go (see ``captions``)."""
    return browser.driver.execute_script(
        "return [...document.querySelectorAll('#label-grid .thumb-tile')]"
        ".map(t => Number(t.dataset.item))")


def press(browser, *keys) -> None:
    """Keys pressed on the page itself (not in a form field, where they must do nothing)."""
    browser.driver.execute_script("document.activeElement && document.activeElement.blur()")
    ActionChains(browser.driver).send_keys(*keys).perform()


def by_pattern_id(browser, **component_id):
    """An element by its pattern-matching id (Dash writes dict ids as sorted JSON);
    NoSuchElementException, as ``find_element`` raises, where the page has none (yet)."""
    element_id = json.dumps(dict(sorted(component_id.items())), separators=(",", ":"))
    element = browser.driver.execute_script("return document.getElementById(arguments[0])",
                                            element_id)
    if element is None:
        raise NoSuchElementException(f"no element {element_id}")
    return element


def type_into(browser, field_type: str, name: str, value) -> None:
    """Replace the value of a form field {"type": field_type, "index": name}."""
    control = by_pattern_id(browser, index=name, type=field_type)
    control.send_keys(Keys.CONTROL, "a")
    control.send_keys(str(value), Keys.ENTER)  # debounced inputs report on Enter


def without_stale(act, timeout: float = 10.0):
    """``act()`` again, on fresh elements, while the gallery redraws under it: once labels
    are saved and the labeler pauses, its tiles are drawn anew from the database, and an
    element found just before is gone (a person simply clicks the new tile)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return act()
        except StaleElementReferenceException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def click(browser, element) -> None:
    """Scroll the element to the middle of the window, then click it like a user."""
    browser.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", element)
    element.click()


def plot_points(browser, graph_id: str) -> list[int]:
    """Points of each trace of a plot, as plotly drew them."""
    return browser.driver.execute_script(
        "const plot = document.querySelector(`#${arguments[0]} .js-plotly-plot`);"
        "return plot && plot.data ? plot.data.map(trace => trace.x.length) : [];", graph_id)


def jobs_panel_text(browser) -> str:
    """The rows of the page's jobs panel."""
    return text_of(browser, ".jobs-list")


def finished_job(app: str, job_id: int) -> dict:
    """The job once it has ended (succeeded, failed or cancelled), read through the API."""
    deadline = time.monotonic() + JOB_TIMEOUT
    while (job := call_api(app, f"/api/v1/jobs/{job_id}"))["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"job {job_id} is still {job['status']}"
        time.sleep(0.5)
    return job


def wait_for(condition, timeout: float, message: str) -> None:
    """Wait until ``condition()`` holds; a poll that meets an element the page redrew
    meanwhile, or one it has not drawn yet (a dialog opened by a callback still on its
    way), counts as "not yet"."""
    def holds() -> bool:
        try:
            return condition()
        except (StaleElementReferenceException, NoSuchElementException):
            return False
    until(holds, timeout=timeout, msg=message)


def wait_until_queued(browser, feedback: str, listed: tuple[str, ...]) -> None:
    """Wait for the "queued" note in ``feedback``, or for the jobs panel to show one of
    ``listed``: the note fades after 4 s, and a loaded machine may show the panel first."""
    wait_for(lambda: "queued" in browser.find_element(feedback).text
             or any(text in jobs_panel_text(browser) for text in listed),
             20, "the job was not queued")


def train_from_page(browser, page: str, graph_id: str, points: list[int]) -> None:
    """Press the model page's Train button; wait for its job to succeed and ``graph_id``
    to show ``points`` points per trace."""
    click(browser, browser.find_element(f"#{page}-train"))
    wait_until_queued(browser, f"#{page}-feedback", ("running", "succeeded"))
    wait_for(lambda: "succeeded" in jobs_panel_text(browser), JOB_TIMEOUT,
             "training did not finish")
    wait_for(lambda: plot_points(browser, graph_id) == points, 15,
             f"the plot {graph_id} did not fill in")
