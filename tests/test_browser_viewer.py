"""The labeling page's full-resolution viewer in headless Chromium at 1600 x 1000: opened
by double-click and by Enter, zoomed with the mouse wheel, panned by dragging, the raw
value under the pointer, previous / next and the labeling keys inside it, Esc closes."""
import re

import pytest
import tifffile
from dash.testing.wait import until
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
from selenium.webdriver.common.keys import Keys

from data.demo import generate_demo
from tests.browser import call_api, captions, press, save_screenshot, text_of, tile_items

N_IMAGES = 12
SIZE = 200  # not a thumbnail size: the picture is a 256 render stretched over 200 pixels
READOUT = re.compile(r"x (\d+)\s+y (\d+)\s+value (\S+) \(raw uint16\)")


@pytest.fixture
def viewer_page(browser, running_app, tmp_path):
    folder = tmp_path / "beamtime"
    generate_demo(folder, n_images=N_IMAGES, size=SIZE, seed=5)
    dataset = call_api(running_app, "/api/v1/datasets", {
        "name": "beamtime", "source": {"kind": "directory", "path": str(folder)}})
    until(lambda: call_api(running_app, f"/api/v1/datasets/{dataset['id']}")["status"]
          == "ready", timeout=30)
    rings = call_api(running_app, f"/api/v1/datasets/{dataset['id']}/labels", {"name": "rings"})
    assert rings["hotkey"] == "1"
    browser.driver.set_window_size(1600, 1000)
    browser.driver.get(f"{running_app}/label?dataset={dataset['id']}")
    browser.wait_for_contains_text("#label-summary", f"of {N_IMAGES}", timeout=20)
    return browser, dataset["id"], folder


def tiles(browser):
    return browser.find_elements("#label-grid .thumb-tile")


def plot_area(browser):
    """The plot's drag surface, where the pointer zooms, pans and hovers."""
    return browser.find_element("#label-viewer-graph .nsewdrag")


def x_range(browser) -> list[float]:
    return browser.driver.execute_script(
        "return document.querySelector('#label-viewer-graph .js-plotly-plot')"
        ".layout.xaxis.range.slice()")


def read_out(browser, at: tuple[float, float]):
    """Point at a place of the plot (fractions of its width and height from its top left);
    (x, y, value) the read-out then shows (another pixel than before)."""
    before = text_of(browser, "#label-viewer-readout")
    box = browser.driver.execute_script(
        "return arguments[0].getBoundingClientRect().toJSON()", plot_area(browser))
    ActionChains(browser.driver).move_to_location(
        int(box["left"] + at[0] * box["width"]), int(box["top"] + at[1] * box["height"])
    ).perform()
    until(lambda: text_of(browser, "#label-viewer-readout") != before
          and READOUT.search(text_of(browser, "#label-viewer-readout")), timeout=10)
    x, y, value = READOUT.search(text_of(browser, "#label-viewer-readout")).groups()
    return int(x), int(y), value


def title(browser) -> str:
    return text_of(browser, "#label-viewer-title")


def outside_window(browser) -> list[str]:
    """The viewer's parts that reach past the window's edges."""
    return browser.driver.execute_script("""
        const parts = ['.modal.show .modal-content', '#label-viewer-graph',
                       '#label-viewer-readout', '#label-viewer-facts'];
        return parts.filter(selector => {
            const box = document.querySelector(selector).getBoundingClientRect();
            return box.top < 0 || box.left < 0 || box.bottom > window.innerHeight
                || box.right > window.innerWidth || box.height === 0;
        });""")


def uri_of(running_app, dataset_id, item_id) -> str:
    items = call_api(running_app, f"/api/v1/datasets/{dataset_id}/items?limit=100")["items"]
    return next(item["uri"] for item in items if item["id"] == item_id)


def test_double_click_opens_a_zoomable_image_reading_raw_values_that_fits_the_window(
        viewer_page):
    browser, _, folder = viewer_page
    ActionChains(browser.driver).double_click(tiles(browser)[0]).perform()
    browser.wait_for_contains_text("#label-viewer-facts", "uint16", timeout=15)
    facts = text_of(browser, "#label-viewer-facts")
    assert f"{SIZE} × {SIZE}" in facts and "img_000000.tif" in facts and "unlabeled" in facts
    assert "1 of" in title(browser)
    assert outside_window(browser) == []
    raw = tifffile.imread(next(folder.rglob("img_000000.tif")))

    # the value under the pointer is the file's, at the pixel the pointer is on
    values = set()
    for at in ((0.5, 0.5), (0.2, 0.7), (0.93, 0.05)):
        x, y, value = read_out(browser, at)
        assert abs(x - at[0] * SIZE) <= 2 and abs(y - at[1] * SIZE) <= 2
        assert int(value) == raw[y, x]
        values.add(value)
    assert len(values) > 1  # not the beam stop's zeros everywhere

    # the wheel zooms in around the pointer; a drag pans
    whole = x_range(browser)
    origin = ScrollOrigin.from_element(plot_area(browser))
    for _ in range(8):  # plotly zooms at most about 10 % a wheel step
        ActionChains(browser.driver).scroll_from_origin(origin, 0, -200).perform()
    until(lambda: x_range(browser)[1] - x_range(browser)[0] < (whole[1] - whole[0]) / 2,
          timeout=10)
    zoomed = x_range(browser)
    ActionChains(browser.driver).move_to_element(plot_area(browser)).click_and_hold() \
        .move_by_offset(120, 0).release().perform()
    until(lambda: x_range(browser)[0] < zoomed[0] - 1, timeout=10)
    x, y, value = read_out(browser, (0.6, 0.4))  # zoomed in: still the pixel under the pointer
    assert int(value) == raw[y, x]
    save_screenshot(browser, "viewer-zoomed")

    press(browser, Keys.ESCAPE)
    until(lambda: not browser.driver.find_elements("css selector", ".modal.show"), timeout=10)
    assert browser.get_logs() == [], "the browser console shows errors"


def test_enter_opens_arrows_walk_the_page_and_keys_label_the_image_shown(viewer_page,
                                                                         running_app):
    browser, dataset_id, _ = viewer_page
    order = tile_items(browser)
    tiles(browser)[2].click()
    press(browser, Keys.ENTER)
    browser.wait_for_contains_text("#label-viewer-title", "3 of", timeout=15)
    assert uri_of(running_app, dataset_id, order[2]) in text_of(browser, "#label-viewer-facts")

    press(browser, Keys.ARROW_RIGHT)
    browser.wait_for_contains_text("#label-viewer-title", "4 of")
    assert uri_of(running_app, dataset_id, order[3]) in text_of(browser, "#label-viewer-facts")
    press(browser, Keys.ARROW_LEFT)
    press(browser, Keys.ARROW_LEFT)
    browser.wait_for_contains_text("#label-viewer-title", "2 of")
    assert uri_of(running_app, dataset_id, order[1]) in text_of(browser, "#label-viewer-facts")

    # 1 labels the image shown, in one manual event; u unlabels it; z undoes that
    press(browser, "1")
    browser.wait_for_contains_text("#label-viewer-facts", "rings")
    events = call_api(running_app, f"/api/v1/datasets/{dataset_id}/events")["events"]
    assert [(e["method"], e["n_tags"]) for e in events] == [("manual", 1)]
    labels = call_api(running_app, f"/api/v1/datasets/{dataset_id}/current-labels")["labels"]
    assert [(row["item_id"], row["label"]) for row in labels] == [(order[1], "rings")]
    press(browser, "u")
    browser.wait_for_contains_text("#label-viewer-facts", "unlabeled")
    press(browser, "z")
    browser.wait_for_contains_text("#label-viewer-facts", "rings")
    events = call_api(running_app, f"/api/v1/datasets/{dataset_id}/events")["events"]
    assert [e["method"] for e in events] == ["undo", "manual", "manual"]
    assert "2 of" in title(browser)  # labeling keeps the image shown

    # the gallery shows the label once the viewer is closed, and its keys work again
    press(browser, Keys.ESCAPE)
    until(lambda: not browser.driver.find_elements("css selector", ".modal.show"), timeout=10)
    until(lambda: "rings" in captions(browser)[1], timeout=10)
    assert all("rings" not in caption for index, caption in enumerate(captions(browser))
               if index != 1)
    assert browser.get_logs() == [], "the browser console shows errors"


def test_the_arrows_stop_at_the_ends_of_the_page(viewer_page):
    browser, _, _ = viewer_page
    ActionChains(browser.driver).double_click(tiles(browser)[0]).perform()
    browser.wait_for_contains_text("#label-viewer-title", f"1 of {N_IMAGES}", timeout=15)
    press(browser, Keys.ARROW_LEFT)
    for position in range(2, N_IMAGES + 1):
        press(browser, Keys.ARROW_RIGHT)
        browser.wait_for_contains_text("#label-viewer-title", f"{position} of {N_IMAGES}")
    press(browser, Keys.ARROW_RIGHT)
    assert browser.find_element("#label-viewer-next").get_attribute("disabled")
    assert f"{N_IMAGES} of {N_IMAGES}" in title(browser)
