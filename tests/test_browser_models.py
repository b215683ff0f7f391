"""The models page in headless Chromium: the library lists two tiny models trained by the
real job runner, a click selects one, its name is refused empty and then saved with a
description, the kind filter narrows the table, and a model is deleted through the dialog
with its files."""
from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select

from db.session import open_database, transaction
from ml.jobs import create_job, execute_job
from tests.browser import (by_pattern_id, call_api, click, demo_in_app, save_screenshot,
                           text_of, wait_for)

N_IMAGES = 16
CLASSES = ("empty", "rings")
AUTOENCODER = {"image_size": [32, 32], "depth": 2, "base_channels": 4, "latent_dim": 4,
               "epochs": 1, "batch_size": 8}
CLASSIFIER = {"model": "resnet18", "image_size": 32, "epochs": 1, "batch_size": 8,
              "val_share": 0.3}


def listed_models(browser) -> list[int]:
    """The model ids of the table's rows, top to bottom."""
    return browser.driver.execute_script(
        "return [...document.querySelectorAll('#models-table tbody tr')]"
        ".map(row => JSON.parse(row.id).index)")


def replace_text(element, text: str) -> None:
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.DELETE)
    if text:
        element.send_keys(text)


@pytest.fixture
def library(browser, running_app, browser_settings, tmp_path):
    """An autoencoder and then a classifier, trained in this process on the app's database."""
    import torch

    torch.set_num_threads(1)  # the CPU is shared with the browser and the app
    dataset_id, truth, labels = demo_in_app(running_app, tmp_path / "beamtime", N_IMAGES, 32,
                                            3, CLASSES)
    items = call_api(running_app, f"/api/v1/datasets/{dataset_id}/items?limit={N_IMAGES}")
    call_api(running_app, f"/api/v1/datasets/{dataset_id}/events", {
        "tagger": "tester", "method": "manual",
        "tags": [{"item_id": item["id"], "label_id": labels[truth[item["uri"]]]}
                 for item in items["items"]]})
    engine, session_factory = open_database(browser_settings)
    models = {}
    try:
        for kind, params in (("autoencoder_train", AUTOENCODER),
                             ("classifier_train", CLASSIFIER)):
            with transaction(session_factory) as session:
                models[kind] = create_job(session, kind, dataset_id, params, "tester").id
            assert execute_job(session_factory, browser_settings.artifacts_dir,
                               models[kind]) == "succeeded"
    finally:
        engine.dispose()
    browser.driver.get(f"{running_app}/models")
    wait_for(lambda: listed_models(browser) == [models["classifier_train"],
                                                models["autoencoder_train"]], 20,
             "the two models are not listed, newest first")
    return browser, running_app, dataset_id, models


def test_rename_describe_filter_and_delete_a_model(library):
    browser, base, dataset_id, models = library
    autoencoder, classifier = models["autoencoder_train"], models["classifier_train"]
    table = text_of(browser, "#models-table")
    assert f"classifier #{classifier}" in table and "beamtime" in table
    assert "empty, rings" in table and "images only" in table and "val_loss" in table

    click(browser, by_pattern_id(browser, index=autoencoder, type="models-row"))
    name = browser.find_element("#models-name")
    wait_for(lambda: name.get_attribute("value") == f"autoencoder #{autoencoder}", 10,
             "a click on the row did not select the autoencoder")
    assert "latent dim" in text_of(browser, "#models-facts")
    assert browser.find_element("#models-results-link").get_attribute("href") == (
        f"{base}/autoencoder?dataset={dataset_id}&job={autoencoder}")

    replace_text(name, "")
    click(browser, browser.find_element("#models-save"))
    browser.wait_for_contains_text("#models-name-error", "name is empty")
    replace_text(name, "Beamtime 42 autoencoder")
    replace_text(browser.find_element("#models-description"), "first shift, log scale")
    click(browser, browser.find_element("#models-save"))
    browser.wait_for_contains_text("#models-table", "Beamtime 42 autoencoder")
    assert text_of(browser, "#models-name-error") == ""
    saved = call_api(base, f"/api/v1/models/{autoencoder}")
    assert saved["name"] == "Beamtime 42 autoencoder"
    assert saved["description"] == "first shift, log scale"
    save_screenshot(browser, "models_renamed")

    Select(browser.find_element("#models-kind")).select_by_visible_text("autoencoder")
    wait_for(lambda: listed_models(browser) == [autoencoder], 10,
             "the kind filter did not narrow the table")
    Select(browser.find_element("#models-kind")).select_by_visible_text("All kinds")
    wait_for(lambda: len(listed_models(browser)) == 2, 10, "all kinds did not come back")

    folder = Path(call_api(base, f"/api/v1/jobs/{classifier}")["artifact_dir"])
    assert (folder / "model.pt").is_file()
    click(browser, by_pattern_id(browser, index=classifier, type="models-row"))
    wait_for(lambda: name.get_attribute("value") == f"classifier #{classifier}", 10,
             "a click on the row did not select the classifier")
    click(browser, browser.find_element("#models-delete"))
    wait_for(lambda: "cannot be undone" in text_of(browser, "#models-confirm-text"), 10,
             "Delete did not ask first")
    question = text_of(browser, "#models-confirm-text")
    assert f"classifier #{classifier}" in question and "artifact folder" in question
    save_screenshot(browser, "models_delete_confirmation")
    click(browser, browser.find_element("#models-confirm-delete"))
    wait_for(lambda: listed_models(browser) == [autoencoder], 10, "the model was not deleted")
    assert not folder.exists()
    with pytest.raises(urllib.error.HTTPError) as gone:
        call_api(base, f"/api/v1/models/{classifier}")
    assert gone.value.code == 404
    wait_for(lambda: name.get_attribute("value") == "Beamtime 42 autoencoder", 10,
             "the remaining model was not selected")
    assert browser.get_logs() == [], "the browser console shows errors"
