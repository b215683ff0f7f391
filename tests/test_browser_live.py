"""In headless Chromium: flip a data set's Live switch and see a file dropped into its
folder counted among the arrivals of the last minute."""
from pathlib import Path

from dash.testing.wait import until

from tests.browser import by_pattern_id, call_api, click, save_screenshot, text_of
from tests.test_live_datasets import write_image


def registered_folder(browser, folder: Path, name: str, n_images: int) -> int:
    """``n_images`` TIFFs in ``folder``, registered in the app and scanned; the data set's
    id."""
    for seed in range(n_images):
        write_image(folder / f"img_{seed}.tif", seed)
    dataset_id = call_api(browser.server_url, "/api/v1/datasets", {
        "name": name, "source": {"kind": "directory", "path": str(folder)}})["id"]
    until(lambda: call_api(browser.server_url,
                           f"/api/v1/datasets/{dataset_id}")["status"] == "ready", timeout=30)
    return dataset_id


def test_a_live_folder_counts_a_dropped_file(browser, tmp_path: Path):
    folder = tmp_path / "beamtime"
    dataset_id = registered_folder(browser, folder, "beamtime", 3)

    browser.driver.get(browser.server_url + "/")
    browser.wait_for_contains_text("#datasets-table", "beamtime", timeout=30)
    assert "new in the last minute" not in text_of(browser, "#datasets-table")
    click(browser, by_pattern_id(browser, index=dataset_id, type="datasets-live", shown=False))
    browser.wait_for_contains_text("#datasets-feedback", "'beamtime' is live")
    browser.wait_for_contains_text("#datasets-table", "0 new in the last minute")
    assert call_api(browser.server_url, f"/api/v1/datasets/{dataset_id}")["live"] is True

    write_image(folder / "dropped.tif", 7)
    browser.wait_for_contains_text("#datasets-table", "1 new in the last minute", timeout=30)
    until(lambda: call_api(browser.server_url,
                           f"/api/v1/datasets/{dataset_id}")["item_count"] == 4, timeout=30)
    save_screenshot(browser, "live-dataset")

    click(browser, by_pattern_id(browser, index=dataset_id, type="datasets-live", shown=True))
    browser.wait_for_contains_text("#datasets-feedback", "'beamtime' is no longer live")
    assert call_api(browser.server_url, f"/api/v1/datasets/{dataset_id}")["live"] is False
    assert browser.get_logs() == [], "the browser console shows errors"


def test_a_replay_started_on_the_page_fills_a_new_live_data_set(browser, tmp_path: Path):
    registered_folder(browser, tmp_path / "past-run", "past run", 4)

    browser.driver.get(browser.server_url + "/")
    browser.wait_for_contains_text("#datasets-replay-source", "past run", timeout=30)
    rate = browser.find_element("#datasets-replay-rate")
    rate.clear()
    rate.send_keys("0")
    click(browser, browser.find_element("#datasets-replay"))
    browser.wait_for_contains_text("#datasets-feedback", "give the images per second")
    rate.clear()
    rate.send_keys("20")
    click(browser, browser.find_element("#datasets-replay"))
    browser.wait_for_contains_text("#datasets-feedback", "Replaying into 'past run (replay)'")
    browser.wait_for_contains_text("#datasets-table", "past run (replay)", timeout=30)
    replayed = [d for d in call_api(browser.server_url, "/api/v1/datasets")["datasets"]
                if d["name"] == "past run (replay)"][0]
    assert replayed["live"] is True
    until(lambda: call_api(browser.server_url,
                           f"/api/v1/datasets/{replayed['id']}")["item_count"] == 4, timeout=30)
    browser.wait_for_contains_text("#datasets-table", "4 new in the last minute", timeout=30)
    save_screenshot(browser, "replay-dataset")
    assert browser.get_logs() == [], "the browser console shows errors"
