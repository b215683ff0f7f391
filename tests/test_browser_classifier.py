"""The classifier page in headless Chromium, with the launcher's real Celery worker."""
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select

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


def shown(browser, selector: str) -> bool:
    return browser.find_element(selector).is_displayed()


def strip_items(browser) -> list:
    return browser.find_elements(".classifier-strip-item")


def compared_runs(browser) -> list[str]:
    return [cell.text for cell in browser.find_elements("#classifier-compare-table th")][1:]


def test_before_any_run_the_page_says_what_to_do_and_what_models_cost(classifier_page):
    browser, _dataset_id = classifier_page
    plots = ("#classifier-loss", "#classifier-accuracy", "#classifier-compare-plot",
             "#classifier-confidence", "#classifier-probabilities")
    assert not any(shown(browser, plot) for plot in plots)  # no empty plots
    assert "Train on your labels" in text_of(browser, "#classifier-curves-hint")
    assert "No inference yet" in text_of(browser, "#classifier-probability-hint")
    # 16 labels per class, 20 % kept aside: 3 + 3 validation images measure nothing.
    browser.wait_for_contains_text("#classifier-training-data", "Only 6 validation images",
                                   timeout=10)
    assert "At least 50" in text_of(browser, "#classifier-training-data")

    model = by_pattern_id(browser, index="model", type="classifier-field")
    options = [option.text for option in Select(model).options]
    assert not any("fast on a CPU" in option for option in options)
    click(browser, model)
    Select(model).select_by_value("resnet152")
    browser.wait_for_contains_text("#classifier-model-hint", "needs a GPU", timeout=10)
    assert "58.1 M parameters" in text_of(browser, "#classifier-model-hint")
    Select(model).select_by_value("efficientnet_b0")
    type_into(browser, "classifier-field", "image_size", 64)
    browser.wait_for_contains_text("#classifier-model-hint", "64 px image: quick on a CPU",
                                   timeout=10)


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
    assert "Only 6 validation images" in text_of(browser, "#classifier-report")
    trained = call_api(base, f"/api/v1/jobs?dataset_id={dataset_id}")["jobs"][0]
    assert trained["kind"] == "classifier_train" and len(trained["metrics"]) == 2
    assert trained["params"]["image_size"] == [32, 32]
    assert sum(trained["result"]["class_counts"]) == N_LABELED
    wait_for(lambda: compared_runs(browser) == [f"#{trained['id']}"], 10,
             "the run is not compared")
    save_screenshot(browser, "classifier_trained")

    # Inference with the selected model: probabilities of every item, plotted; the least
    # confident images to click.
    click(browser, browser.find_element("#classifier-infer"))
    wait_for(lambda: jobs_panel_text(browser).count("succeeded") == 2, JOB_TIMEOUT,
             "inference did not finish")
    wait_for(lambda: plot_points(browser, "classifier-probabilities") == [2], 15,
             "no probability bars for an item")
    assert plot_points(browser, "classifier-confidence") == [20, 20]  # a stack per class
    inferred = call_api(base, f"/api/v1/jobs?dataset_id={dataset_id}")["jobs"][0]
    assert inferred["kind"] == "classifier_infer" and inferred["result"]["items"] == N_IMAGES
    assert len(strip_items(browser)) == 12
    third = strip_items(browser)[2]
    name = third.get_attribute("title")
    click(browser, third)
    wait_for(lambda: name in text_of(browser, "#classifier-item-view"), 10,
             "clicking an image did not show it")
    browser.wait_for_contains_text("#classifier-probabilities", "predicted", timeout=10)

    # ... or found by (part of) its file name.
    last = call_api(base, f"/api/v1/datasets/{dataset_id}/items?limit=100")["items"][-1]["uri"]
    search = browser.find_element("#classifier-item-name")
    click(browser, search)
    search.send_keys(last.rsplit("/", 1)[-1].rsplit(".", 1)[0].upper(), Keys.ENTER)
    wait_for(lambda: last in text_of(browser, "#classifier-item-view"), 10,
             "the image named was not shown")
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys("no-such-image", Keys.ENTER)
    browser.wait_for_contains_text("#classifier-item-name-note", "No image of this inference",
                                   timeout=10)

    # A bar of the histogram: its images.
    click_tallest_bar(browser)
    browser.wait_for_contains_text("#classifier-strip-title", "Predicted", timeout=10)
    assert 0 < len(strip_items(browser)) <= 12

    # A second run joins the comparison by itself; its inference is shown once finished.
    type_into(browser, "classifier-field", "epochs", 1)
    click(browser, browser.find_element("#classifier-train"))
    wait_for(lambda: jobs_panel_text(browser).count("succeeded") == 3, JOB_TIMEOUT,
             "the second run did not finish")
    second = call_api(base, f"/api/v1/jobs?dataset_id={dataset_id}")["jobs"][0]
    wait_for(lambda: compared_runs(browser) == [f"#{second['id']}", f"#{trained['id']}"], 15,
             "the new run was not added to the comparison")
    click(browser, browser.find_element("#classifier-infer"))
    wait_for(lambda: jobs_panel_text(browser).count("succeeded") == 4, JOB_TIMEOUT,
             "the second inference did not finish")
    newest = call_api(base, f"/api/v1/jobs?dataset_id={dataset_id}")["jobs"][0]
    wait_for(lambda: f"#{newest['id']} · model #{second['id']}"
             in text_of(browser, "#classifier-inference"), 15,
             "the probabilities stayed on the older inference")
    browser.driver.set_window_size(1400, 2600)  # the whole page in the screenshot
    save_screenshot(browser, "classifier_probabilities")


def click_tallest_bar(browser) -> None:
    """Click the tallest bar of the confidence histogram, as a user would."""
    bars = browser.find_elements("#classifier-confidence .bars .point path")
    tallest = max(bars, key=lambda bar: bar.size["height"])
    ActionChains(browser.driver).move_to_element(tallest).click().perform()
