"""The latent space explorer in headless Chromium: compute a projection with clusters,
hover a point for its thumbnail, box-select and lasso points with real mouse drags (drag
modes chosen on the modebar), label them, follow the links both ways."""
from __future__ import annotations

import numpy as np
import pytest
from dash.testing.wait import until
from selenium.webdriver.support.select import Select

from data.demo import generate_demo
from db.session import open_database
from ml.projection_results import load_projection
from tests.browser import call_api, save_screenshot
from tests.feature_jobs import make_feature_job
from tests.plot_pointer import (SAFE_PIXELS, box, choose_dragmode, circle, drag_along,
                                edge_distance, inside_polygon, loneliest_point, move_to,
                                plot_area, scroll_into_view, to_pixels)

GRAPH = "explorer-graph"

CLASSES = ("empty", "rings", "peaks")
N_IMAGES = 36


def clustered_items(app_url, folder):
    """Demo images registered in the app, a label class, and vectors that know the classes;
    (data set id, label id, item ids, class index of each, vectors) in file order."""
    truth = generate_demo(folder, n_images=N_IMAGES, size=64, seed=3, classes=CLASSES)
    dataset = call_api(app_url, "/api/v1/datasets", {
        "name": "beamtime", "source": {"kind": "directory", "path": str(folder)}})
    label = call_api(app_url, f"/api/v1/datasets/{dataset['id']}/labels", {"name": "rings"})
    page = call_api(app_url, f"/api/v1/datasets/{dataset['id']}/items?limit={N_IMAGES}")
    ids = {item["uri"]: item["id"] for item in page["items"]}
    item_ids = np.array([ids[path] for path, _label in truth])
    classes = np.array([CLASSES.index(name) for _path, name in truth])
    rng = np.random.default_rng(0)
    vectors = rng.normal(scale=5.0, size=(len(CLASSES), 8))[classes] + rng.normal(
        size=(len(classes), 8))
    return dataset["id"], label["id"], item_ids, classes, vectors


def make_data(app_url, settings, folder):
    """Demo images, a label class, and a feature job whose vectors know the classes;
    (data set id, label id, feature job id, item ids by class)."""
    dataset_id, label_id, item_ids, classes, vectors = clustered_items(app_url, folder)
    engine, session_factory = open_database(settings)
    feature_job = make_feature_job(session_factory, dataset_id, settings.artifacts_dir,
                                   item_ids.tolist(), vectors)
    engine.dispose()
    by_class = {name: item_ids[classes == CLASSES.index(name)].tolist() for name in CLASSES}
    return dataset_id, label_id, feature_job, by_class


def open_explorer(browser, app_url, dataset_id, feature_job) -> None:
    browser.driver.get(f"{app_url}/explorer?dataset={dataset_id}")
    browser.wait_for_contains_text("#explorer-feature-job", f"job {feature_job}", timeout=20)


@pytest.fixture
def explorer(browser, running_app, browser_settings, tmp_path):
    dataset_id, label_id, feature_job, by_class = make_data(running_app, browser_settings,
                                                            tmp_path / "beamtime")
    open_explorer(browser, running_app, dataset_id, feature_job)
    return browser, dataset_id, label_id, by_class


def trace_names(browser) -> list[str]:
    return browser.driver.execute_script(
        "const g = document.querySelector('#explorer-graph .js-plotly-plot');"
        "return g && g.data ? g.data.map(t => t.name) : []")


def stored_points(settings, app_url) -> tuple[np.ndarray, np.ndarray]:
    """(item ids, coordinates) of the projection's points, from the job's own files."""
    (job,) = call_api(app_url, "/api/v1/jobs?kind=projection")["jobs"]
    engine, session_factory = open_database(settings)
    with session_factory() as session:
        projection = load_projection(session, job["id"])
        item_ids, points = projection.item_ids.copy(), np.array(projection.points)
    engine.dispose()
    return item_ids, points


def selected_thumbs(browser) -> list[int]:
    """Item ids of the selection's thumbnails, read in one go (they are re-drawn)."""
    return sorted(browser.driver.execute_script(
        "return [...document.querySelectorAll('#explorer-thumbs img')]"
        ".map(img => Number(img.title.split(' ').pop()))"))


def drag_around(browser, mode: str, stored: tuple[np.ndarray, np.ndarray],
                expected: list[int]) -> None:
    """Choose the drag ``mode`` ("lasso" or "select", the box), then drag a circle or a box
    around the ``expected`` items, having checked that exactly they are drawn inside it."""
    choose_dragmode(browser.driver, GRAPH, mode)
    item_ids, points = stored
    pixels = to_pixels(browser.driver, GRAPH, points)  # after any scrolling
    group = pixels[np.isin(item_ids, expected)]
    centre = group.mean(axis=0)
    norm = 2 if mode == "lasso" else np.inf
    reach = np.linalg.norm(group - centre, ord=norm, axis=1).max() + 8
    outline = circle(centre, reach) if mode == "lasso" else box(centre, reach)
    assert sorted(item_ids[inside_polygon(pixels, outline)].tolist()) == sorted(expected)
    assert edge_distance(pixels, outline).min() >= SAFE_PIXELS
    drag_along(browser.driver, outline if mode == "lasso" else outline[[0, 1, 2]])


def selected_on_plot(browser) -> int:
    return browser.driver.execute_script(
        "const plot = document.querySelector('#explorer-graph .js-plotly-plot');"
        "return plot.data.reduce((n, t) => n + (t.selectedpoints || []).length, 0)")


def test_project_cluster_select_and_label_then_open_the_selection_in_the_gallery(
        explorer, running_app, browser_settings):
    browser, dataset_id, label_id, by_class = explorer
    rings, peaks = by_class["rings"], by_class["peaks"]
    Select(browser.find_element("#explorer-clustering")).select_by_value("kmeans")
    field = browser.find_element('[id*="kmeans.n_clusters"]')
    field.clear()
    field.send_keys("3")
    browser.find_element("#explorer-run").click()
    browser.wait_for_contains_text("#explorer-feedback", "succeeded", timeout=30)
    until(lambda: "unlabeled (36)" in trace_names(browser), timeout=15)

    # colour by cluster: three clusters of the three classes
    Select(browser.find_element("#explorer-colour")).select_by_value("cluster")
    until(lambda: sorted(trace_names(browser)) == ["cluster 0 (12)", "cluster 1 (12)",
                                                   "cluster 2 (12)"], timeout=15)

    stored = stored_points(browser_settings, running_app)
    item_ids, points = stored

    # hovering a point shows its thumbnail, and it loads
    scroll_into_view(browser.driver, GRAPH)
    pixels = to_pixels(browser.driver, GRAPH, points)
    alone, spacing = loneliest_point(pixels, plot_area(browser.driver, GRAPH))
    assert spacing > 10
    move_to(browser.driver, *pixels[alone])
    thumb = f"/thumbs/{item_ids[alone]}.png"
    until(lambda: browser.driver.execute_script(
        "return [...document.querySelectorAll('#explorer-tooltip img')].some(img =>"
        " img.src.includes(arguments[0]) && img.complete && img.naturalWidth > 0)", thumb),
        timeout=10)

    # a box around one class selects exactly its items; then a lasso around another
    drag_around(browser, "select", stored, peaks)
    browser.wait_for_contains_text("#explorer-count", f"{len(peaks)} items selected", timeout=15)
    until(lambda: selected_thumbs(browser) == sorted(peaks), timeout=10)

    drag_around(browser, "lasso", stored, rings)
    until(lambda: selected_thumbs(browser) == sorted(rings), timeout=15)
    browser.wait_for_contains_text("#explorer-count", f"{len(rings)} items selected", timeout=15)
    browser.wait_for_contains_text("#explorer-summary", "unlabeled: 12")
    until(lambda: len(browser.find_elements("#explorer-thumbs img")) == len(rings), timeout=10)
    browser.wait_for_contains_text("#explorer-heatmap", f"mean of {len(rings)} images")

    Select(browser.find_element("#explorer-label")).select_by_value(str(label_id))
    browser.find_element("#explorer-apply-label").click()
    browser.wait_for_contains_text("#explorer-label-feedback", f"Labeled {len(rings)} items")
    browser.wait_for_contains_text("#explorer-summary", f"rings: {len(rings)}")
    # colouring still follows the menu after selections, and shows the selection
    Select(browser.find_element("#explorer-colour")).select_by_value("label")
    until(lambda: sorted(trace_names(browser)) == ["rings (12)", "unlabeled (24)"], timeout=15)
    until(lambda: selected_on_plot(browser) == len(rings), timeout=10)
    save_screenshot(browser, "explorer")
    assert not [entry for entry in browser.get_logs() if "Error" in entry["message"]]

    events = call_api(running_app, f"/api/v1/datasets/{dataset_id}/events")["events"]
    assert len(events) == 1 and events[0]["method"] == "cluster"
    assert events[0]["n_tags"] == len(rings) and sorted(events[0]["params"]["item_ids"]) == \
        sorted(rings)
    labeled = call_api(running_app, f"/api/v1/datasets/{dataset_id}/current-labels")
    assert sorted(row["item_id"] for row in labeled["labels"]) == sorted(rings)

    # the selection opens in the gallery, and the gallery's tiles open in the explorer
    href = browser.find_element("#explorer-gallery-link").get_attribute("href")
    browser.driver.get(href)
    browser.wait_for_contains_text("#label-summary", f"of {len(rings)}", timeout=20)
    save_screenshot(browser, "explorer-selection-in-gallery")
    link = browser.find_element("#explorer-from-gallery")
    until(lambda: "items=" in (link.get_attribute("href") or ""), timeout=10)
    browser.driver.get(link.get_attribute("href"))
    browser.wait_for_contains_text("#explorer-count", f"{len(rings)} items selected", timeout=20)


def test_a_umap_projection_runs_on_the_worker_and_opens_when_done(
        worker_browser, running_app_with_worker, browser_settings, tmp_path):
    dataset_id, _label, feature_job, _classes = make_data(
        running_app_with_worker, browser_settings, tmp_path / "beamtime")
    browser = worker_browser
    open_explorer(browser, running_app_with_worker, dataset_id, feature_job)
    browser.find_element("#explorer-method input[value='umap']").click()
    field = browser.find_element('[id*="umap.n_neighbors"]')
    field.clear()
    field.send_keys("5")
    browser.find_element("#explorer-run").click()
    browser.wait_for_contains_text("#explorer-feedback", "queued", timeout=20)
    # numba compiles UMAP in the worker's fresh process first: allow for a shared CPU
    browser.wait_for_contains_text("#explorer-projection", "umap 2-D", timeout=300)
    until(lambda: "unlabeled (36)" in trace_names(browser), timeout=15)
    # the same parameters again open the stored job instead of computing it twice
    browser.find_element("#explorer-run").click()
    browser.wait_for_contains_text("#explorer-feedback", "Already computed as job", timeout=20)
    jobs = call_api(running_app_with_worker, "/api/v1/jobs?kind=projection")["jobs"]
    assert len(jobs) == 1 and jobs[0]["status"] == "succeeded"
