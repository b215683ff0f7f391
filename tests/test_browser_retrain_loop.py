"""The retrain loop from the label page's suggestion panel in headless Chromium: turned on by
a click, labels given by key make a retraining due, and the status line follows the
training and its inference (run by the real job runner, as a worker would) until the loop's
new model is the suggestions' feature source."""
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from db.session import open_database, transaction
from ml.jobs import create_job, execute_job
from tests.browser import call_api, click, demo_in_app, press, save_screenshot, text_of
from tests.test_browser_guided import choose_mode

N_IMAGES = 40
CLASSES = ("empty", "rings")  # hotkeys 1 and 2
EVERY = 20
SEEDS_PER_CLASS = 6
TINY = {"model": "resnet18", "image_size": 32, "epochs": 1, "batch_size": 16,
        "val_share": 0.3}


def _loop_job(app: str, dataset_id: int) -> int:
    return call_api(app, f"/api/v1/datasets/{dataset_id}/retrain-loop")["running_job_id"]


def test_turn_the_loop_on_and_watch_it_retrain(browser, running_app, browser_settings,
                                               tmp_path):
    import torch

    torch.set_num_threads(1)  # the CPU is shared with the browser and the app
    dataset_id, truth, labels = demo_in_app(running_app, tmp_path / "beamtime", N_IMAGES,
                                            32, 5, CLASSES)
    items = call_api(running_app, f"/api/v1/datasets/{dataset_id}/items?limit={N_IMAGES}")
    uris = [(item["id"], item["uri"]) for item in items["items"]]
    # hand labels after the first page row, so the first eight tiles are unlabeled
    seeds = [(item, name) for name in CLASSES
             for item in [i for i, uri in uris[8:] if truth[uri] == name][:SEEDS_PER_CLASS]]
    call_api(running_app, f"/api/v1/datasets/{dataset_id}/events", {
        "tagger": "tester", "method": "manual",
        "tags": [{"item_id": item, "label_id": labels[name]} for item, name in seeds]})
    engine, session_factory = open_database(browser_settings)
    artifacts = browser_settings.artifacts_dir
    try:
        with transaction(session_factory) as session:  # a small training the loop repeats
            earlier = create_job(session, "classifier_train", dataset_id, TINY, "tester").id
        assert execute_job(session_factory, artifacts, earlier) == "succeeded"

        browser.driver.get(f"{running_app}/label?dataset={dataset_id}")
        choose_mode(browser, "Suggestions")
        browser.wait_for_contains_text("#label-loop-status", "no model from the loop yet",
                                       timeout=20)
        every = browser.find_element("#label-loop-every")
        every.send_keys(Keys.CONTROL, "a")
        every.send_keys(str(EVERY), Keys.ENTER)
        click(browser, browser.find_element("#label-loop-on"))
        left = EVERY - len(seeds)
        browser.wait_for_contains_text("#label-loop-status", f"next retrain in {left} labels")

        tiles = browser.find_elements("#label-grid .thumb-tile")
        click(browser, tiles[0])
        ActionChains(browser.driver).key_down(Keys.SHIFT).click(tiles[left - 1]) \
            .key_up(Keys.SHIFT).perform()
        press(browser, "1")
        browser.wait_for_contains_text("#label-loop-status", "retraining", timeout=20)
        training = _loop_job(running_app, dataset_id)
        assert call_api(running_app, f"/api/v1/jobs/{training}")["params"]["image_size"] == \
            [32, 32]

        assert execute_job(session_factory, artifacts, training) == "succeeded"
        browser.wait_for_contains_text("#label-loop-status", "classifying every item",
                                       timeout=20)
        inference = _loop_job(running_app, dataset_id)
        assert execute_job(session_factory, artifacts, inference) == "succeeded"
        browser.wait_for_contains_text(
            "#label-loop-status", f"model: trained on {EVERY} labels, 0 new since (job "
                                  f"{inference}) · next retrain in {EVERY} labels", timeout=20)
        browser.wait_for_contains_text("#label-suggestion-job", f"job {inference}")
        assert "kept fresh by the retrain loop" in text_of(browser, "#label-suggestion-job")
        browser.wait_for_contains_text("#label-summary", f"on job {inference}")
        save_screenshot(browser, "label-retrain-loop")
        assert browser.get_logs() == [], "the browser console shows errors"
    finally:
        engine.dispose()
