"""The models page in headless Chromium: the selected model's Export link gives its file, a
person picks that file in "Import a model" and gets a new model without a data set, selected;
a file that is no model is refused under the upload."""
from __future__ import annotations

from tests.browser import by_pattern_id, call_api, click, save_screenshot, text_of, wait_for
from tests.test_browser_models import library, listed_models  # noqa: F401


def pick_file(browser, path) -> None:
    """Choose a file in the upload's file dialog, as a person does."""
    browser.find_element("#models-import-upload input[type=file]").send_keys(str(path))


def test_export_a_model_and_import_its_file(library, tmp_path):
    browser, base, _dataset_id, models = library
    autoencoder = models["autoencoder_train"]
    name = browser.find_element("#models-name")
    wait_for(lambda: name.get_attribute("value") == f"classifier #{models['classifier_train']}",
             10, "the newest model is not selected")
    click(browser, by_pattern_id(browser, index=autoencoder, type="models-row"))
    wait_for(lambda: name.get_attribute("value") == f"autoencoder #{autoencoder}", 10,
             "a click on the row did not select the autoencoder")
    link = browser.find_element("#models-export-link").get_attribute("href")
    assert link == f"{base}/api/v1/models/{autoencoder}/export"
    exported = tmp_path / "autoencoder.safetensors"
    exported.write_bytes(call_api(base, link.removeprefix(base)))

    pick_file(browser, exported)
    browser.wait_for_contains_text("#models-import-message", "Imported")
    wait_for(lambda: len(listed_models(browser)) == 3, 10, "the imported model is not listed")
    imported = listed_models(browser)[0]
    assert imported not in models.values()
    assert f"as model #{imported}" in text_of(browser, "#models-import-message")
    wait_for(lambda: f"#{imported}" in text_of(browser, "#models-facts"), 10,
             "the imported model is not selected")
    assert "imported, no data set" in text_of(browser, "#models-facts")
    answer = call_api(base, f"/api/v1/jobs/{imported}")
    assert answer["result"]["imported_from"]["file_name"] == "autoencoder.safetensors"
    save_screenshot(browser, "models_imported")

    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"this is not a model file")
    pick_file(browser, broken)
    browser.wait_for_contains_text("#models-import-message", "not a safetensors file")
    assert len(listed_models(browser)) == 3
    assert browser.get_logs() == [], "the browser console shows errors"
