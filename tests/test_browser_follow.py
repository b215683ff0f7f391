"""In headless Chromium: the label page sorted newest first with Follow on shows a file
dropped into a live folder as the first tile without a reload, and a key labels it."""
from pathlib import Path

from dash.testing.wait import until
from selenium.webdriver.support.ui import Select

from tests.browser import call_api, captions, press, save_screenshot
from tests.test_browser_label import add_class, click_tile
from tests.test_live_datasets import write_image


def first_tile_name(browser) -> str:
    return browser.driver.execute_script(
        "const t = document.querySelector('#label-grid .thumb-tile');"
        "return t ? t.dataset.name : ''")


def test_following_newest_first_shows_an_arrival_first_and_a_key_labels_it(
        browser, tmp_path: Path):
    folder = tmp_path / "beamtime"
    for seed in range(3):
        write_image(folder / f"img_{seed}.tif", seed)
    base = browser.server_url
    dataset_id = call_api(base, "/api/v1/datasets", {
        "name": "beamtime", "source": {"kind": "directory", "path": str(folder)},
        "live": True})["id"]
    until(lambda: call_api(base, f"/api/v1/datasets/{dataset_id}")["status"] == "ready",
          timeout=30)

    browser.driver.get(f"{base}/label?dataset={dataset_id}")
    browser.wait_for_contains_text("#label-summary", "items 1–3 of 3", timeout=30)
    add_class(browser, "rings")
    assert not browser.find_element("#label-follow").is_displayed()  # only with newest first
    Select(browser.find_element("#label-sort")).select_by_visible_text("newest first")
    until(lambda: first_tile_name(browser) == "img_2.tif", timeout=10)
    assert browser.find_element("#label-follow").is_selected()
    browser.wait_for_contains_text("#label-arrivals-note", "0 arrivals in the last hour",
                                   timeout=30)

    write_image(folder / "dropped.tif", 7)
    until(lambda: first_tile_name(browser) == "dropped.tif", timeout=30)
    browser.wait_for_contains_text("#label-summary", "items 1–4 of 4")
    browser.wait_for_contains_text("#label-arrivals-note", "1 arrival in the last hour",
                                   timeout=30)
    save_screenshot(browser, "label-follow")

    click_tile(browser, 0)
    press(browser, "1")
    browser.wait_for_contains_text("#label-progress-text", "1 / 4 labeled", timeout=20)
    until(lambda: captions(browser)[0] == "rings" and first_tile_name(browser) == "dropped.tif",
          timeout=10)
    labeled = call_api(base, f"/api/v1/datasets/{dataset_id}/current-labels")["labels"]
    assert [(row["uri"].rsplit("/", 1)[-1], row["label"]) for row in labeled] == [
        ("dropped.tif", "rings")]
    assert browser.get_logs() == [], "the browser console shows errors"
