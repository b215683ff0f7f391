"""The label page's suggestion review in headless Chromium: real scattering features, a
page of suggestions, one tile corrected by its hotkey, the rest accepted with the y key."""
from dash.testing.wait import until
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from callbacks.ids import Label as ids
from db.session import open_database, transaction
from ml.jobs import create_job, execute_job
from tests.browser import call_api, click, demo_in_app, press, save_screenshot, text_of, tile_items
from tests.test_browser_guided import choose_mode, notes

N_IMAGES = 60
CLASSES = ("empty", "rings", "streaks")  # hotkeys 1, 2, 3 in this order


def demo_with_features(running_app, browser_settings, folder):
    """(data set id, true class of each URI, label ids by name, URI of each item id, the id
    of its finished scattering_features job)."""
    dataset_id, truth, labels = demo_in_app(running_app, folder, N_IMAGES, 64, 8, CLASSES)
    items = call_api(running_app, f"/api/v1/datasets/{dataset_id}/items?limit={N_IMAGES}")
    uri_of = {item["id"]: item["uri"] for item in items["items"]}
    engine, session_factory = open_database(browser_settings)
    with transaction(session_factory) as session:
        job_id = create_job(session, "scattering_features", dataset_id, {}, "tester").id
    assert execute_job(session_factory, browser_settings.artifacts_dir, job_id) == "succeeded"
    engine.dispose()
    return dataset_id, truth, labels, uri_of, job_id


def label_by_hand(running_app, dataset_id, labels, truth, uri_of, seeds):
    call_api(running_app, f"/api/v1/datasets/{dataset_id}/events", {
        "tagger": "tester", "method": "manual",
        "tags": [{"item_id": i, "label_id": labels[truth[uri_of[i]]]} for i in seeds]})


def review_after_seeds(browser, running_app, dataset_id, labels, truth, uri_of,
                       classes) -> list[int]:
    """Label 4 items of each of ``classes`` by hand, then open the label page's suggestion
    review; the seeds' item ids."""
    seeds = [item_id for name in classes
             for item_id in [i for i, uri in uri_of.items() if truth[uri] == name][:4]]
    label_by_hand(running_app, dataset_id, labels, truth, uri_of, seeds)
    browser.driver.get(f"{running_app}/label?dataset={dataset_id}")
    browser.wait_for_contains_text("#label-progress-text", f"{len(seeds)} / {N_IMAGES} labeled",
                                   timeout=20)
    choose_mode(browser, "Suggestions")
    return seeds


def test_accept_a_page_of_suggestions_by_key_after_correcting_one(
        browser, running_app, browser_settings, tmp_path):
    dataset_id, truth, labels, uri_of, job_id = demo_with_features(
        running_app, browser_settings, tmp_path / "beamtime")

    # before any label: the items to label first, spread over the data
    browser.driver.get(f"{running_app}/label?dataset={dataset_id}")
    choose_mode(browser, "Suggestions")
    browser.wait_for_contains_text("#label-summary", "label these first", timeout=20)
    assert len(browser.find_elements("#label-grid .thumb-tile")) == 48

    seeds = review_after_seeds(browser, running_app, dataset_id, labels, truth, uri_of, CLASSES)
    assert len(seeds) == 12
    browser.wait_for_contains_text("#label-suggestion-job", f"job {job_id}")
    browser.wait_for_contains_text("#label-summary", "surest suggestions of any class")
    browser.wait_for_contains_text("#label-suggestion-info", "learnt from 12 labels")
    until(lambda: notes(browser) and all(n.startswith("→ ") for n in notes(browser)), 10)
    shown = [(n.split()[1], float(n.split()[2])) for n in notes(browser)]
    classes_in_order = [name for i, (name, _) in enumerate(shown)
                        if i == 0 or shown[i - 1][0] != name]
    assert len(classes_in_order) == len(set(classes_in_order)) > 1  # grouped by class
    for name in classes_in_order:  # most confident first within each class
        confidences = [confidence for shown_name, confidence in shown if shown_name == name]
        assert confidences == sorted(confidences, reverse=True)
    page = tile_items(browser)
    save_screenshot(browser, "label-suggestions")

    # correct one tile first: the last one gets a class other than its suggestion by hotkey
    odd = page[-1]
    other = next(name for name in CLASSES if name != shown[-1][0])
    click(browser, browser.find_elements("#label-grid .thumb-tile")[-1])
    press(browser, str(CLASSES.index(other) + 1))
    browser.wait_for_contains_text("#label-progress-text", f"13 / {N_IMAGES} labeled")
    until(lambda: odd not in tile_items(browser), 10)
    until(lambda: len(notes(browser)) == len(tile_items(browser)), 10)
    suggested = {item: note.split()[1]
                 for item, note in zip(tile_items(browser), notes(browser))}

    press(browser, "y")
    browser.wait_for_contains_text("#label-feedback", "Accepted")
    event = call_api(running_app, f"/api/v1/datasets/{dataset_id}/events")["events"][0]
    assert event["method"] == "suggestion" and event["n_tags"] == len(suggested)
    assert event["params"]["feature_job_id"] == job_id and event["params"]["labels_used"] == 13
    current = {row["item_id"]: row for row in call_api(
        running_app, f"/api/v1/datasets/{dataset_id}/current-labels")["labels"]}
    assert all(current[i]["label_id"] == labels[name] for i, name in suggested.items())
    page = list(suggested)
    assert all(0 < current[i]["confidence"] <= 1 for i in page)
    assert current[odd]["label_id"] == labels[other]  # the correction stays
    assert "labeled" in text_of(browser, "#label-progress-text")

    # in the plain gallery, the accepted labels are marked as a model's, the hand labels not
    browser.driver.get(f"{running_app}/label?dataset={dataset_id}")
    browser.wait_for_contains_text("#label-progress-text", "labeled", timeout=20)
    until(lambda: browser.find_elements("#label-grid .thumb-tile"), 10)
    marked = {int(tile.get_attribute("data-item")): bool(tile.find_elements(By.CSS_SELECTOR, ".by-model"))
              for tile in browser.find_elements("#label-grid .thumb-tile")}
    assert all(marked[i] for i in page if i in marked) and any(i in marked for i in page)
    assert not any(marked[i] for i in [*seeds, odd] if i in marked)
    assert browser.get_logs() == [], "the browser console shows errors"


def test_a_class_without_labels_is_named_and_typical_items_help_find_it(
        browser, running_app, browser_settings, tmp_path):
    dataset_id, truth, labels, uri_of, job_id = demo_with_features(
        running_app, browser_settings, tmp_path / "beamtime")
    seeds = review_after_seeds(browser, running_app, dataset_id, labels, truth, uri_of,
                               CLASSES[:2])  # "streaks" gets no label
    assert len(seeds) == 8
    browser.wait_for_contains_text("#label-suggestion-info", "No labels yet for streaks")

    Select(browser.find_element(f"#{ids.SUGGESTION_LABEL}")).select_by_visible_text(
        "typical items not labeled yet")
    browser.wait_for_contains_text("#label-summary", "typical items not labeled yet")
    shown = tile_items(browser)
    assert len(shown) == 48 and not set(shown) & set(seeds)  # one page, none labeled
    assert browser.get_logs() == [], "the browser console shows errors"
