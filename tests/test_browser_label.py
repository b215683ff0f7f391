"""The labeling page in headless Chromium, against the real launcher and database."""
import csv
import io
import time
import zipfile

import pytest
from dash.testing.wait import until
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from callbacks.colours import MIN_TEXT_CONTRAST, contrast_ratio
from data.demo import generate_demo
from tests.browser import call_api, captions, press, save_screenshot, text_of, without_stale

N_IMAGES = 60


@pytest.fixture
def label_page(browser, running_app, tmp_path):
    generate_demo(tmp_path / "beamtime", n_images=N_IMAGES, size=64, seed=3)
    dataset = call_api(running_app, "/api/v1/datasets", {
        "name": "beamtime", "source": {"kind": "directory", "path": str(tmp_path / "beamtime")}})
    browser.driver.get(f"{running_app}/label?dataset={dataset['id']}")
    browser.wait_for_contains_text("#label-summary", f"items 1–48 of {N_IMAGES}", timeout=20)
    return browser, dataset["id"]


def tiles(browser):
    return browser.find_elements("#label-grid .thumb-tile")


def selected(browser):
    return browser.driver.execute_script(
        "return [...document.querySelectorAll('#label-grid .thumb-tile.selected')]"
        ".map(t => t.dataset.item)")


def add_class(browser, name):
    field = browser.find_element("#label-new-name")
    field.send_keys(name)
    browser.find_element("#label-add").click()
    browser.wait_for_contains_text("#label-classes", name)


def click_with(browser, element, modifier):
    ActionChains(browser.driver).key_down(modifier).click(element).key_up(modifier).perform()


def click_tile(browser, index, modifier=None):
    """Click the tile now at ``index``, as a person clicks what is on screen: the grid may
    be redrawn (a new class re-captions it) between finding a tile and clicking it."""
    for _ in range(5):
        try:
            tile = tiles(browser)[index]
            if modifier is None:
                tile.click()
            else:
                click_with(browser, tile, modifier)
            return
        except StaleElementReferenceException:
            time.sleep(0.2)
    raise AssertionError(f"tile {index} kept being redrawn")


def test_label_with_clicks_hotkeys_and_buttons_then_undo_page_filter_export_reload(
        label_page, running_app):
    browser, dataset_id = label_page
    add_class(browser, "rings")
    add_class(browser, "peaks")

    # click, shift-click: a range of four; hotkey 1 labels them 'rings' in one event
    click_tile(browser, 0)
    click_tile(browser, 3, Keys.SHIFT)
    until(lambda: len(selected(browser)) == 4, timeout=5)
    press(browser, "1")
    browser.wait_for_contains_text("#label-progress-text", f"4 / {N_IMAGES} labeled")
    until(lambda: captions(browser)[:4] == ["rings"] * 4, timeout=10)
    assert without_stale(lambda: selected(browser) == [
        tiles(browser)[4].get_attribute("data-item")])  # moved on

    # ctrl-click toggles; the 'peaks' button labels
    click_tile(browser, 6, Keys.CONTROL)
    until(lambda: len(selected(browser)) == 2, timeout=5)
    browser.find_element("#label-classes .class-row:nth-child(2) .btn-label").click()
    browser.wait_for_contains_text("#label-progress-text", f"6 / {N_IMAGES} labeled")
    until(lambda: captions(browser)[4] == "peaks" and captions(browser)[6] == "peaks", timeout=10)
    save_screenshot(browser, "label-labeled")

    # z undoes this tagger's last event
    press(browser, "z")
    browser.wait_for_contains_text("#label-progress-text", f"4 / {N_IMAGES} labeled")
    until(lambda: captions(browser)[4] != "peaks", timeout=10)

    # keys page through; typing in an input does not
    press(browser, Keys.ARROW_RIGHT)
    browser.wait_for_contains_text("#label-summary", f"items 49–{N_IMAGES} of {N_IMAGES}")
    browser.find_element("#label-new-name").send_keys("1")
    ActionChains(browser.driver).send_keys(Keys.PAGE_UP).perform()  # focus is in the field
    time.sleep(1)
    assert "4 / 60" in browser.find_element("#label-progress-text").text
    assert "items 49–" in browser.find_element("#label-summary").text
    browser.find_element("#label-new-name").clear()
    press(browser, Keys.PAGE_UP)
    browser.wait_for_contains_text("#label-summary", "items 1–48")

    # show only the unlabeled: the four 'rings' disappear
    Select(browser.find_element("#label-filter")).select_by_visible_text("unlabeled")
    browser.wait_for_contains_text("#label-summary", f"of {N_IMAGES - 4}")
    assert "rings" not in captions(browser)
    Select(browser.find_element("#label-filter")).select_by_visible_text("all")
    browser.wait_for_contains_text("#label-summary", f"items 1–48 of {N_IMAGES}")

    # help overlay
    press(browser, "?")
    browser.wait_for_contains_text(".modal.show", "unlabel the selection")
    assert "previous / next image of the page" in text_of(browser, ".modal.show")  # viewer
    assert "saved in the background" in text_of(browser, ".modal.show")
    press(browser, Keys.ESCAPE)

    # exports hold the labels
    rows = list(csv.DictReader(io.StringIO(call_api(
        running_app, f"/api/v1/datasets/{dataset_id}/export?format=csv").decode())))
    assert [row["label"] for row in rows] == ["rings"] * 4
    assert {"uri", "label", "tagger", "event_id", "time"} <= set(rows[0])
    archive = zipfile.ZipFile(io.BytesIO(call_api(
        running_app, f"/api/v1/datasets/{dataset_id}/export?format=zip")))
    assert len([n for n in archive.namelist() if n.startswith("rings/")]) == 4

    # a reload finds the labels in the database
    browser.driver.refresh()
    browser.wait_for_contains_text("#label-progress-text", f"4 / {N_IMAGES} labeled", timeout=20)
    until(lambda: captions(browser)[:4] == ["rings"] * 4, timeout=10)
    save_screenshot(browser, "label-after-reload")
    assert browser.get_logs() == [], "the browser console shows errors"


def test_rename_delete_in_use_undo_and_view_as_of(label_page):
    browser, _ = label_page
    add_class(browser, "rings")
    add_class(browser, "peaks")
    click_tile(browser, 0)
    click_tile(browser, 1, Keys.SHIFT)
    press(browser, "2")
    browser.wait_for_contains_text("#label-progress-text", f"2 / {N_IMAGES} labeled")

    # rename and re-key 'peaks' in the edit dialog
    browser.find_element("#label-classes .class-row:nth-child(2) .bi-pencil").click()
    name = browser.find_element("#label-edit-name")
    browser.wait_for_element("#label-edit-name")
    name.clear()
    name.send_keys("bragg peaks")
    browser.find_element("#label-edit-save").click()
    browser.wait_for_contains_text("#label-classes", "bragg peaks")
    until(lambda: captions(browser)[:2] == ["bragg peaks"] * 2, timeout=10)

    # move it up: it becomes the first class and takes the first row
    browser.find_element("#label-classes .class-row:nth-child(2) .bi-arrow-up").click()
    until(lambda: text_of(browser, "#label-classes .class-row:nth-child(1)")
          .startswith("bragg peaks"), timeout=10)

    # deleting a class in use asks first, unlabels in one event, and undo brings it back
    browser.find_element("#label-classes .class-row:nth-child(1) .bi-trash").click()
    browser.wait_for_contains_text(".modal.show", "2 items carry this class")
    browser.find_element("#label-confirm-delete").click()
    browser.wait_for_contains_text("#label-progress-text", f"0 / {N_IMAGES} labeled")
    assert "bragg peaks" not in browser.find_element("#label-classes").text
    browser.find_element("#label-history .event-row:nth-child(1) button:nth-of-type(2)").click()
    browser.wait_for_contains_text("#label-progress-text", f"2 / {N_IMAGES} labeled")
    browser.wait_for_contains_text("#label-classes", "bragg peaks")

    # view the labels as of the first event (before anything), then back to the latest
    browser.find_element("#label-history .event-row:last-child button:nth-of-type(1)").click()
    browser.wait_for_contains_text("#label-as-of-banner", "right after event 1")
    browser.find_element("#label-back-to-latest").click()
    until(lambda: "right after" not in text_of(browser, "#label-as-of-banner"), timeout=10)
    save_screenshot(browser, "label-classes-and-history")

    # double-click opens the full-resolution viewer with the image's facts
    ActionChains(browser.driver).double_click(tiles(browser)[0]).perform()
    browser.wait_for_contains_text("#label-viewer-facts", "uint16")
    facts = text_of(browser, "#label-viewer-facts")
    assert "64 × 64" in facts and "bragg peaks" in facts and "img_000000.tif" in facts
    save_screenshot(browser, "label-viewer")


def file_lines(browser) -> list[str]:
    """The file-name line under each tile's label ('' where it is hidden, under no label)."""
    return browser.driver.execute_script(
        "return [...document.querySelectorAll('#label-grid .thumb-file')]"
        ".map(f => getComputedStyle(f).visibility === 'visible' ? f.innerText : '')")


def tile_positions(browser) -> list[list[int]]:
    return browser.driver.execute_script(
        "return [...document.querySelectorAll('#label-grid .thumb-tile')]"
        ".map(t => { const r = t.getBoundingClientRect(); return [r.x, r.y]; })")


def labeled_caption_contrasts(browser) -> list[float]:
    """The contrast of text on background of each labeled tile's caption, as drawn."""
    colours = browser.driver.execute_script(
        "return [...document.querySelectorAll('#label-grid .thumb-caption.labeled')].map(c => {"
        "  const style = getComputedStyle(c); return [style.color, style.backgroundColor]; })")

    def hex_of(rgb: str) -> str:
        red, green, blue = (int(part) for part in rgb[rgb.index("(") + 1:-1].split(",")[:3])
        return f"#{red:02x}{green:02x}{blue:02x}"
    return [contrast_ratio(hex_of(text), hex_of(background)) for text, background in colours]


def test_keys_typed_fast_all_land_in_order_and_a_refused_key_is_taken_back(
        label_page, running_app):
    browser, dataset_id = label_page
    add_class(browser, "rings")
    add_class(browser, "peaks")
    click_tile(browser, 0)
    until(lambda: len(selected(browser)) == 1, timeout=5)
    positions = tile_positions(browser)
    names = [f"img_{n:06d}.tif" for n in range(7)]

    # six keys in one go: each labels the selected tile and moves on, none waits
    press(browser, "121212")
    until(lambda: captions(browser)[:6] == ["rings", "peaks"] * 3, timeout=10)
    assert file_lines(browser)[:7] == names[:6] + [""], "labeled tiles keep their file name"
    assert all(ratio >= MIN_TEXT_CONTRAST for ratio in labeled_caption_contrasts(browser))
    assert without_stale(lambda: selected(browser) == [
        tiles(browser)[6].get_attribute("data-item")])
    browser.wait_for_contains_text("#label-sync", "saved")
    answer = call_api(running_app, f"/api/v1/datasets/{dataset_id}/current-labels")
    rows = sorted(answer["labels"], key=lambda row: row["event_id"])
    assert [row["uri"].rsplit("/", 1)[-1] for row in rows] == names[:6], "in the order typed"
    assert [row["label"] for row in rows] == ["rings", "peaks"] * 3
    assert len({row["event_id"] for row in rows}) == 6, "one event per key"
    until(lambda: len(labeled_caption_contrasts(browser)) == 6, timeout=10)  # redrawn
    assert min(labeled_caption_contrasts(browser)) >= MIN_TEXT_CONTRAST

    # a key no class has: the tile shows it first, then takes it back with the reason
    press(browser, "3")
    browser.wait_for_contains_text("#label-feedback", "no class has hotkey 3")
    until(lambda: captions(browser)[6] == names[6], timeout=10)
    browser.wait_for_contains_text("#label-progress-text", f"6 / {N_IMAGES} labeled")

    # z undoes the last key's event, and the grid never moved
    press(browser, "z")
    browser.wait_for_contains_text("#label-progress-text", f"5 / {N_IMAGES} labeled")
    until(lambda: captions(browser)[5] == names[5], timeout=10)
    assert tile_positions(browser) == positions
    save_screenshot(browser, "label-typed-fast")


def test_a_class_added_elsewhere_takes_its_key_at_once_and_the_keys_after_it_follow(
        label_page, running_app):
    """A colleague adds a class (here over REST) the open page has not drawn yet: its key
    labels the selected tile with it and moves on, and the keys typed right after it act
    on the tiles after it, in order."""
    browser, dataset_id = label_page
    click_tile(browser, 0)
    until(lambda: len(selected(browser)) == 1, timeout=5)
    label = call_api(running_app, f"/api/v1/datasets/{dataset_id}/labels", {"name": "halo"})
    press(browser, f"{label['hotkey']}{label['hotkey']}u")
    until(lambda: captions(browser)[:3] == ["halo", "halo", "img_000002.tif"], timeout=10)
    assert without_stale(lambda: selected(browser) == [
        tiles(browser)[3].get_attribute("data-item")])
    browser.wait_for_contains_text("#label-sync", "saved")
    rows = call_api(running_app, f"/api/v1/datasets/{dataset_id}/current-labels")["labels"]
    assert sorted(row["uri"].rsplit("/", 1)[-1] for row in rows) == [
        "img_000000.tif", "img_000001.tif"]


def thumbnail_sources(browser) -> list[str]:
    return browser.driver.execute_script(
        "return [...document.querySelectorAll('#label-grid img')].map(i => i.src)")


def test_percentiles_typed_in_the_view_menu_are_checked(label_page):
    browser, _ = label_page
    browser.find_element("#label-view-button").click()
    high = browser.wait_for_element("#label-percentile-high")
    high.send_keys(Keys.CONTROL, "a")
    high.send_keys("99.9", Keys.ENTER)
    until(lambda: all("pmax=99.9" in src for src in thumbnail_sources(browser)), timeout=10)

    high.send_keys(Keys.CONTROL, "a")
    high.send_keys("120", Keys.ENTER)
    browser.wait_for_contains_text("#label-percentile-note", "from 0 to 100")
    assert all("pmax=99.9" in src for src in thumbnail_sources(browser))
    high.send_keys(Keys.CONTROL, "a")
    high.send_keys("99.99", Keys.ENTER)
    until(lambda: all("pmax=99.99" in src for src in thumbnail_sources(browser)), timeout=10)
    low = browser.find_element("#label-percentile-low")
    low.send_keys(Keys.CONTROL, "a")
    low.send_keys("99.995", Keys.ENTER)  # above the high one: refused too
    browser.wait_for_contains_text("#label-percentile-note", "must be below")
    low.send_keys(Keys.CONTROL, "a")
    low.send_keys("99.95", Keys.ENTER)
    until(lambda: all("pmin=99.95" in src and "pmax=99.99" in src
                      for src in thumbnail_sources(browser)), timeout=10)
    assert text_of(browser, "#label-percentile-note") == ""
    save_screenshot(browser, "label-view-menu")
