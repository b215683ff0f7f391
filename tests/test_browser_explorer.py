"""The latent space explorer in headless Chromium: compute a projection with clusters,
select points through the graph's selectedData, label them, follow the links both ways."""
from __future__ import annotations

import numpy as np
import pytest
from dash.testing.wait import until
from selenium.webdriver.support.select import Select

from data.demo import generate_demo
from db.session import open_database
from tests.browser import call_api, save_screenshot
from tests.feature_jobs import make_feature_job

CLASSES = ("empty", "rings", "peaks")
N_IMAGES = 36


def make_data(app_url, settings, folder):
    """Demo images, a label class, and a feature job whose vectors know the classes;
    (data set id, label id, feature job id, ids of the 'rings' items)."""
    truth = generate_demo(folder, n_images=N_IMAGES, size=64, seed=3, classes=CLASSES)
    dataset = call_api(app_url, "/api/v1/datasets", {
        "name": "beamtime", "source": {"kind": "directory", "path": str(folder)}})
    label = call_api(app_url, f"/api/v1/datasets/{dataset['id']}/labels", {"name": "rings"})
    page = call_api(app_url, f"/api/v1/datasets/{dataset['id']}/items?limit={N_IMAGES}")
    ids = {item["uri"]: item["id"] for item in page["items"]}
    item_ids = [ids[path] for path, _label in truth]
    classes = np.array([CLASSES.index(name) for _path, name in truth])
    rng = np.random.default_rng(0)
    vectors = rng.normal(scale=5.0, size=(len(CLASSES), 8))[classes] + rng.normal(
        size=(len(classes), 8))
    engine, session_factory = open_database(settings)
    feature_job = make_feature_job(session_factory, dataset["id"], settings.artifacts_dir,
                                   item_ids, vectors)
    engine.dispose()
    rings = [item_id for item_id, c in zip(item_ids, classes) if CLASSES[c] == "rings"]
    return dataset["id"], label["id"], feature_job, rings


def open_explorer(browser, app_url, dataset_id, feature_job) -> None:
    browser.driver.get(f"{app_url}/explorer?dataset={dataset_id}")
    browser.wait_for_contains_text("#explorer-feature-job", f"job {feature_job}", timeout=20)


@pytest.fixture
def explorer(browser, running_app, browser_settings, tmp_path):
    dataset_id, label_id, feature_job, rings = make_data(running_app, browser_settings,
                                                         tmp_path / "beamtime")
    open_explorer(browser, running_app, dataset_id, feature_job)
    return browser, dataset_id, label_id, rings


def trace_names(browser) -> list[str]:
    return browser.driver.execute_script(
        "const g = document.querySelector('#explorer-graph .js-plotly-plot');"
        "return g && g.data ? g.data.map(t => t.name) : []")


def select_points(browser, item_ids) -> None:
    """What a lasso does: the graph's selectedData, set through the Dash renderer."""
    points = [{"customdata": item_id} for item_id in item_ids]
    browser.driver.execute_script(
        "window.dash_clientside.set_props('explorer-graph', "
        "{selectedData: {points: arguments[0]}})", points)


def test_project_cluster_select_and_label_then_open_the_selection_in_the_gallery(
        explorer, running_app):
    browser, dataset_id, label_id, rings = explorer
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

    # hovering a point shows its thumbnail
    browser.driver.execute_script(
        "window.dash_clientside.set_props('explorer-graph', {hoverData: {points: [{customdata:"
        " arguments[0], bbox: {x0: 500, x1: 504, y0: 300, y1: 304}}]}})", rings[0])
    until(lambda: any(f"/thumbs/{rings[0]}.png" in (img.get_attribute("src") or "")
                      for img in browser.find_elements("#explorer-tooltip img")), timeout=10)

    select_points(browser, rings)
    browser.wait_for_contains_text("#explorer-count", f"{len(rings)} items selected", timeout=15)
    browser.wait_for_contains_text("#explorer-summary", "unlabeled: 12")
    until(lambda: len(browser.find_elements("#explorer-thumbs img")) == len(rings), timeout=10)
    browser.wait_for_contains_text("#explorer-heatmap", f"mean of {len(rings)} images")

    Select(browser.find_element("#explorer-label")).select_by_value(str(label_id))
    browser.find_element("#explorer-apply-label").click()
    browser.wait_for_contains_text("#explorer-label-feedback", f"Labeled {len(rings)} items")
    browser.wait_for_contains_text("#explorer-summary", f"rings: {len(rings)}")
    Select(browser.find_element("#explorer-colour")).select_by_value("label")
    until(lambda: sorted(trace_names(browser)) == ["rings (12)", "unlabeled (24)"], timeout=15)
    save_screenshot(browser, "explorer")

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
    dataset_id, _label, feature_job, _rings = make_data(
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
