"""The labeling page's guided modes in headless Chromium: one similarity batch and one
probability-threshold labeling, against the real launcher, database and event log."""
import numpy as np
import pytest
from dash.testing.wait import until
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select

from data.demo import generate_demo
from db.session import open_database
from tests.browser import (call_api, captions, click, press, save_screenshot, text_of,
                           without_stale)
from tests.feature_jobs import make_feature_job

N_IMAGES = 60


def notes(browser):
    return browser.driver.execute_script(
        "return [...document.querySelectorAll('#label-grid .thumb-tile')]"
        ".map(t => (t.querySelector('.thumb-note') || {}).innerText || '')")


@pytest.fixture
def guided_page(browser, running_app, browser_settings, tmp_path):
    """60 demo images; item k's latent vector points at k degrees and a classifier gives it
    p(rings) = 1 - k/59; items 5 (rings), 6 and 50 (peaks) are labeled by hand."""
    generate_demo(tmp_path / "beamtime", n_images=N_IMAGES, size=64, seed=3)
    dataset_id = call_api(running_app, "/api/v1/datasets", {
        "name": "beamtime", "source": {"kind": "directory",
                                       "path": str(tmp_path / "beamtime")}})["id"]
    until(lambda: call_api(running_app, f"/api/v1/datasets/{dataset_id}")["status"] == "ready",
          timeout=30)
    labels = {name: call_api(running_app, f"/api/v1/datasets/{dataset_id}/labels",
                             {"name": name})["id"] for name in ("rings", "peaks")}
    ids = [item["id"] for item in call_api(
        running_app, f"/api/v1/datasets/{dataset_id}/items?limit={N_IMAGES}")["items"]]
    call_api(running_app, f"/api/v1/datasets/{dataset_id}/events", {
        "tagger": "tester", "method": "manual", "tags": [
            {"item_id": ids[5], "label_id": labels["rings"]},
            {"item_id": ids[6], "label_id": labels["peaks"]},
            {"item_id": ids[50], "label_id": labels["peaks"]}]})
    engine, session_factory = open_database(browser_settings)
    angles = np.radians(np.arange(N_IMAGES))
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    p_rings = 1 - np.arange(N_IMAGES) / (N_IMAGES - 1)
    classifier = make_feature_job(session_factory, dataset_id, tmp_path / "jobs", ids, vectors,
                                  np.stack([p_rings, 1 - p_rings], axis=1),
                                  [labels["rings"], labels["peaks"]])
    latents = make_feature_job(session_factory, dataset_id, tmp_path / "jobs", ids, vectors)
    engine.dispose()
    browser.driver.get(f"{running_app}/label?dataset={dataset_id}")
    browser.wait_for_contains_text("#label-progress-text", f"3 / {N_IMAGES} labeled",
                                   timeout=20)
    return browser, dataset_id, ids, labels, {"latents": latents, "classifier": classifier}


def choose_mode(browser, mode):
    browser.wait_for_contains_text("#label-mode", mode)
    browser.driver.execute_script(
        "[...document.querySelectorAll('#label-mode label')]"
        ".find(l => l.innerText.trim() === arguments[0]).click()", mode)


def move_threshold(browser, key, presses):
    thumb = browser.find_element("#label-threshold .dash-slider-thumb")
    browser.driver.execute_script("arguments[0].focus()", thumb)
    ActionChains(browser.driver).send_keys(*[key] * presses).perform()


def test_one_similarity_batch_and_one_threshold_labeling(guided_page, running_app):
    browser, dataset_id, ids, labels, jobs = guided_page

    # similarity: the first tile is the query; the gallery re-orders, distances shown
    choose_mode(browser, "Similarity")
    browser.wait_for_contains_text("#label-feature-job", f"job {jobs['latents']}")
    browser.find_elements("#label-grid .thumb-tile")[0].click()
    browser.find_element("#label-use-selection").click()
    browser.wait_for_contains_text("#label-summary", "by similarity to 1 query item")
    until(lambda: notes(browser)[:2] == ["d 0.000", "d 0.000"], timeout=10)  # 0° and 1°
    assert len(notes(browser)) == 48
    # defaults from the data: the cutoff reaches the 48th nearest unlabeled item (49°)
    until(lambda: browser.find_element("#label-cutoff").get_attribute("value") == "0.344", 10)
    assert "too few to tell" in text_of(browser, "#label-feature-check")  # 3 labels

    # top 5 nearest unlabeled items: a preview, then one event
    top_k = browser.find_element("#label-top-k")
    top_k.clear()
    top_k.send_keys("5")
    browser.wait_for_contains_text("#label-batch-preview", "5 chosen: 5 get 'rings'")
    browser.find_element("#label-batch-apply").click()
    browser.wait_for_contains_text("#label-progress-text", f"8 / {N_IMAGES} labeled")
    browser.wait_for_contains_text("#label-feedback", "Labeled 5 items by similarity")
    event = call_api(running_app, f"/api/v1/datasets/{dataset_id}/events")["events"][0]
    assert event["method"] == "similarity" and event["n_tags"] == 5
    assert event["params"]["query_item_ids"] == [ids[0]]
    assert event["params"]["feature_job_id"] == jobs["latents"]
    assert event["params"]["scope"] == "top_k" and event["params"]["top_k"] == 5
    save_screenshot(browser, "label-similarity-batch")

    # probability at 0.75: items 0..14 score high enough; 0..6 are labeled and keep their
    # label, 6 a 'peaks'; the hand-made classifier names no training, so no hand label is
    # known to be held out and no precision is stated
    choose_mode(browser, "Probability")
    browser.wait_for_contains_text("#label-classifier-job", f"job {jobs['classifier']}")
    move_threshold(browser, Keys.ARROW_LEFT, 15)  # 0.90 → 0.75
    browser.wait_for_contains_text(
        "#label-probability-preview", "8 items would be labeled; labeled otherwise, so kept: 1 "
        "(tick overwrite to relabel). No precision estimate: it needs 10 hand labels the "
        "classifier did not train on at this probability or above, and there are 0")
    browser.find_element("#label-probability-apply").click()
    browser.wait_for_contains_text("#label-progress-text", f"16 / {N_IMAGES} labeled")
    event = call_api(running_app, f"/api/v1/datasets/{dataset_id}/events")["events"][0]
    assert event["method"] == "probability" and event["n_tags"] == 8
    assert event["params"]["threshold"] == 0.75
    assert event["params"]["inference_job_id"] == jobs["classifier"]
    current = call_api(running_app, f"/api/v1/datasets/{dataset_id}/current-labels")["labels"]
    confidence = {c["item_id"]: c["confidence"] for c in current}
    assert confidence[ids[14]] == pytest.approx(1 - 14 / 59, abs=1e-6)
    assert confidence[ids[6]] is None  # the hand label stayed

    # the efficiency panel counts both methods
    browser.wait_for_contains_text("#label-efficiency", "probability")
    assert "similarity" in text_of(browser, "#label-efficiency")
    save_screenshot(browser, "label-probability-threshold")
    assert browser.get_logs() == [], "the browser console shows errors"


def test_labeled_items_as_query_by_the_rule_the_labels_choose_or_a_forced_one(guided_page,
                                                                              running_app):
    browser, dataset_id, ids, labels, jobs = guided_page
    choose_mode(browser, "Similarity")
    browser.wait_for_contains_text("#label-feature-job", f"job {jobs['latents']}")

    # the user labels the items at 0° and 40° 'rings', then selects both as the query
    for position, labeled in ((0, 4), (40, 5)):
        without_stale(lambda: click(browser,
                                    browser.find_elements("#label-grid .thumb-tile")[position]))
        press(browser, "1")
        browser.wait_for_contains_text("#label-progress-text", f"{labeled} / {N_IMAGES} labeled")

    def select_both():
        tiles = browser.find_elements("#label-grid .thumb-tile")
        click(browser, tiles[0])
        ActionChains(browser.driver).key_down(Keys.CONTROL).click(tiles[40]).key_up(
            Keys.CONTROL).perform()

    without_stale(select_both)
    click(browser, browser.find_element("#label-use-selection"))

    # by default the labels choose the rule: three 'rings' labels are too few to tell, so
    # the mean (20°), and the page centres on the item between the query items
    browser.wait_for_contains_text("#label-summary", "by similarity to 2 query item(s) "
                                   "(nearest to their mean, chosen from the labels)")
    until(lambda: Select(browser.find_element("#label-match")).first_selected_option.text
          == "chosen from the labels (now: mean)", timeout=10)
    until(lambda: captions(browser)[0] == "img_000020.tif", timeout=10)
    until(lambda: browser.find_element("#label-cutoff").get_attribute("value") == "0.152", 10)

    # nearest to any: each item counts its distance to the nearer query item: 1°, 39°, 41°
    Select(browser.find_element("#label-match")).select_by_visible_text(
        "nearest to any query item")
    browser.wait_for_contains_text("#label-summary", "(nearest to any)")
    until(lambda: sorted(captions(browser)[:3]) == ["img_000001.tif", "img_000039.tif",
                                                    "img_000041.tif"], timeout=10)
    until(lambda: browser.find_element("#label-cutoff").get_attribute("value") == "0.044", 10)

    # forced to their mean (20°) the page reorders around the item between them again
    Select(browser.find_element("#label-match")).select_by_visible_text("nearest to their mean")
    browser.wait_for_contains_text("#label-summary", "(nearest to their mean)")
    until(lambda: captions(browser)[0] == "img_000020.tif", timeout=10)
    assert sorted(captions(browser)[1:3]) == ["img_000019.tif", "img_000021.tif"]
    assert notes(browser)[0] == "d 0.000"
    until(lambda: browser.find_element("#label-cutoff").get_attribute("value") == "0.152", 10)
    assert "chosen from the labels" not in text_of(browser, "#label-summary")
    save_screenshot(browser, "label-similarity-match-rule")

    # a batch follows the rule shown
    browser.wait_for_contains_text("#label-batch-preview", "20 chosen: 20 get 'rings'")
    browser.find_element("#label-batch-apply").click()
    browser.wait_for_contains_text("#label-feedback", "Labeled 20 items by similarity")
    event = call_api(running_app, f"/api/v1/datasets/{dataset_id}/events")["events"][0]
    assert event["params"]["match"] == "mean" and event["params"]["match_from_labels"] is False
    assert sorted(event["params"]["query_item_ids"]) == [ids[0], ids[40]]
    assert browser.get_logs() == [], "the browser console shows errors"


def test_active_learning_order_suspected_mistakes_and_a_checkpoint(guided_page, running_app):
    browser, dataset_id, ids, labels, jobs = guided_page

    # the active-learning order: the unlabeled items nearest p = 0.5 first
    choose_mode(browser, "Probability")
    browser.wait_for_contains_text("#label-classifier-job", f"job {jobs['classifier']}")
    browser.driver.execute_script(
        "const s = document.getElementById('label-uncertainty');"
        "s.value = 'margin'; s.dispatchEvent(new Event('change', {bubbles: true}));")
    browser.wait_for_contains_text("#label-summary", "most uncertain first")
    until(lambda: sorted(captions(browser)[:2]) == ["img_000029.tif", "img_000030.tif"],
          timeout=10)
    assert notes(browser)[0] == "u 0.983"

    # item 6 is a hand-labeled 'peaks' the classifier calls 'rings' at 0.90
    choose_mode(browser, "Review")
    confidence = browser.find_element("#label-min-confidence")
    confidence.clear()
    confidence.send_keys("0.85")
    browser.find_element("#label-show-mistakes").click()
    browser.wait_for_contains_text("#label-summary", "suspected mistakes")
    until(lambda: captions(browser) == ["peaks"], timeout=10)
    assert notes(browser) == ["model: rings 0.90"]

    # a checkpoint of the three labeled items, labels hidden; all answered 'rings'
    size = browser.find_element("#label-checkpoint-size")
    size.clear()
    size.send_keys("3")
    browser.find_element("#label-start-checkpoint").click()
    browser.wait_for_contains_text("#label-summary", "validation checkpoint")
    until(lambda: sorted(captions(browser)) == ["img_000005.tif", "img_000006.tif",
                                                "img_000050.tif"], timeout=10)
    press(browser, "a")
    press(browser, "1")
    until(lambda: captions(browser) == ["rings"] * 3, timeout=10)
    # as a person does: score once the toolbar says the answers are saved
    until(lambda: text_of(browser, "#label-sync") == "saved", timeout=10)
    browser.find_element("#label-score-checkpoint").click()
    browser.wait_for_contains_text("#label-checkpoint-agreement", "33 %: 1 of 3")
    result = text_of(browser, "#label-checkpoint-result")
    assert "img_000006.tif: labeled 'peaks', now 'rings'" in result
    assert "img_000050.tif" in result
    save_screenshot(browser, "label-review-checkpoint")
    browser.find_element("#label-correct-all").click()
    browser.wait_for_contains_text("#label-feedback", "Corrected 2 label(s)")
    event = call_api(running_app, f"/api/v1/datasets/{dataset_id}/events")["events"][0]
    assert event["method"] == "manual" and event["n_tags"] == 2
    assert event["params"] == {"validation_checkpoint": True}
    counts = call_api(running_app, f"/api/v1/datasets/{dataset_id}/current-labels")["counts"]
    assert counts == {"rings": 3, "peaks": 0}
    assert browser.get_logs() == [], "the browser console shows errors"


def test_the_items_a_threshold_would_label_are_shown_corrected_then_labeled(
        guided_page, running_app):
    browser, dataset_id, ids, labels, jobs = guided_page
    choose_mode(browser, "Probability")
    browser.wait_for_contains_text("#label-classifier-job", f"job {jobs['classifier']}")
    # at 0.90: items 0..5 score high enough (p = 1 - k/59); 5 is labeled already
    browser.wait_for_contains_text("#label-probability-preview", "5 items would be labeled. "
                                   "No precision estimate")
    browser.find_element("#label-show-threshold-items").click()
    browser.wait_for_contains_text("#label-summary", "5 items the threshold would label "
                                   "'rings' (probability ≥ 0.9), least confident first")
    until(lambda: captions(browser) == [f"img_00000{k}.tif" for k in (4, 3, 2, 1, 0)], 10)
    assert notes(browser) == ["p 0.93", "p 0.95", "p 0.97", "p 0.98", "p 1.00"]

    # the doubtful first one is a 'peaks' to this user: labeled by hand, it leaves the batch
    browser.find_elements("#label-grid .thumb-tile")[0].click()
    press(browser, "2")
    browser.wait_for_contains_text("#label-probability-preview", "4 items would be labeled")
    until(lambda: captions(browser) == [f"img_00000{k}.tif" for k in (3, 2, 1, 0)], 10)

    # the shown items follow the threshold: at 0.88 item 7 joins (6 is a hand 'peaks')
    move_threshold(browser, Keys.ARROW_LEFT, 2)
    until(lambda: captions(browser) == [f"img_00000{k}.tif" for k in (7, 3, 2, 1, 0)], 10)
    browser.wait_for_contains_text("#label-probability-preview", "5 items would be labeled; "
                                   "labeled otherwise, so kept: 2")
    save_screenshot(browser, "label-probability-items-shown")
    browser.find_element("#label-probability-apply").click()
    browser.wait_for_contains_text("#label-feedback", "Labeled 5 items at probability ≥ 0.88")
    event = call_api(running_app, f"/api/v1/datasets/{dataset_id}/events")["events"][0]
    assert event["method"] == "probability" and event["n_tags"] == 5
    current = call_api(running_app, f"/api/v1/datasets/{dataset_id}/current-labels")["labels"]
    given = {c["item_id"]: c["label_id"] for c in current}
    assert given[ids[4]] == labels["peaks"]  # the hand correction stayed
    assert [given[ids[k]] for k in (0, 1, 2, 3, 7)] == [labels["rings"]] * 5
    # nothing is left for the threshold to label: the order says so
    until(lambda: captions(browser) == [], 10)
    assert browser.get_logs() == [], "the browser console shows errors"
