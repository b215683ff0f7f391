"""The classifier page in headless Chromium, with the launcher's real Celery worker."""
import pytest

from data.demo import generate_demo
from tests.browser import (JOB_TIMEOUT, by_pattern_id, call_api, click, jobs_panel_text,
                           plot_points, save_screenshot, text_of, train_from_page, type_into,
                           wait_for)

CLASSES = ("empty", "rings")
N_IMAGES, N_LABELED = 40, 32


def field_error(browser, name: str):
    return by_pattern_id(browser, index=name, type="classifier-field-error")


@pytest.fixture
def classifier_page(worker_browser, running_app_with_worker, tmp_path):
    """A demo data set of two classes with all but the last images labeled."""
    base = running_app_with_worker
    truth = generate_demo(tmp_path / "beamtime", n_images=N_IMAGES, size=32, seed=5,
                          classes=CLASSES)
    dataset = call_api(base, "/api/v1/datasets", {
        "name": "beamtime", "source": {"kind": "directory", "path": str(tmp_path / "beamtime")}})
    labels = {name: call_api(base, f"/api/v1/datasets/{dataset['id']}/labels",
                             {"name": name})["id"] for name in CLASSES}
    items = call_api(base, f"/api/v1/datasets/{dataset['id']}/items?limit=100")["items"]
    item_of = {path: next(item["id"] for item in items if item["uri"].endswith(path))
               for path, _ in truth}
    call_api(base, f"/api/v1/datasets/{dataset['id']}/events", {
        "tagger": "tester", "method": "manual",
        "tags": [{"item_id": item_of[path], "label_id": labels[label]}
                 for path, label in truth[:N_LABELED]]})
    worker_browser.driver.get(f"{base}/classifier?dataset={dataset['id']}")
    worker_browser.wait_for_contains_text("#classifier-training-data",
                                          f"{N_LABELED} labeled images", timeout=20)
    return worker_browser, dataset["id"]


def test_train_from_the_page_shows_metrics_then_probabilities(classifier_page,
                                                              running_app_with_worker):
    browser, dataset_id = classifier_page
    base = running_app_with_worker
    summary = text_of(browser, "#classifier-training-data")
    assert "empty" in summary and "rings" in summary
    assert len(browser.find_elements("#classifier-training-data img")) == 8  # 4 per class

    # A size the model cannot take is refused next to its field, and nothing is queued.
    type_into(browser, "classifier-field", "image_size", 8)
    wait_for(lambda: "between 16" in field_error(browser, "image_size").text,
             10, "no message next to the image size")
    click(browser, browser.find_element("#classifier-train"))
    browser.wait_for_contains_text("#classifier-feedback", "params.image_size", timeout=10)
    assert call_api(base, f"/api/v1/jobs?dataset_id={dataset_id}")["jobs"] == []

    for name, value in (("image_size", 32), ("epochs", 2), ("batch_size", 8)):
        type_into(browser, "classifier-field", name, value)
    wait_for(lambda: field_error(browser, "image_size").text == "", 10,
             "the message stayed after the fix")
    train_from_page(browser, "classifier", "classifier-accuracy", [2, 2])
    assert plot_points(browser, "classifier-loss") == [2, 2]
    browser.wait_for_contains_text("#classifier-report", "precision", timeout=10)
    trained = call_api(base, f"/api/v1/jobs?dataset_id={dataset_id}")["jobs"][0]
    assert trained["kind"] == "classifier_train" and len(trained["metrics"]) == 2
    assert trained["params"]["image_size"] == [32, 32]
    assert sum(trained["result"]["class_counts"]) == N_LABELED
    browser.wait_for_contains_text("#classifier-compare-table", f"#{trained['id']}", timeout=10)
    save_screenshot(browser, "classifier_trained")

    # Inference with the selected model: probabilities of every item, plotted.
    click(browser, browser.find_element("#classifier-infer"))
    wait_for(lambda: jobs_panel_text(browser).count("succeeded") == 2, JOB_TIMEOUT,
             "inference did not finish")
    wait_for(lambda: plot_points(browser, "classifier-probabilities") == [2], 15,
             "no probability bars for an item")
    assert plot_points(browser, "classifier-confidence") == [20, 20]  # a stack per class
    browser.wait_for_contains_text("#classifier-probabilities", "labeled", timeout=10)
    inferred = call_api(base, f"/api/v1/jobs?dataset_id={dataset_id}")["jobs"][0]
    assert inferred["kind"] == "classifier_infer" and inferred["result"]["items"] == N_IMAGES
    browser.driver.set_window_size(1400, 2600)  # the whole page in the screenshot
    save_screenshot(browser, "classifier_probabilities")
