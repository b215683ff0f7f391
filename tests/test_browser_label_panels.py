"""The labeling page's side panels in headless Chromium, driven as a person does: class
colours on the progress bar and in pills, readable text on them, refusals of the class
form by its field, history rows in words, and an efficiency panel of labeling methods."""
import re

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from callbacks.colours import MIN_TEXT_CONTRAST, contrast_ratio
from data.demo import generate_demo
from db.labels import PALETTE
from tests.browser import call_api, click, press, save_screenshot, text_of

N_IMAGES = 60
CLASSES = ("empty", "rings", "rings+peaks", "peaks")


@pytest.fixture
def label_page(browser, running_app, tmp_path):
    generate_demo(tmp_path / "beamtime", n_images=N_IMAGES, size=64, seed=3)
    dataset = call_api(running_app, "/api/v1/datasets", {
        "name": "beamtime", "source": {"kind": "directory", "path": str(tmp_path / "beamtime")}})
    browser.driver.set_window_size(1600, 1000)
    browser.driver.get(f"{running_app}/label?dataset={dataset['id']}")
    browser.wait_for_contains_text("#label-summary", f"items 1–48 of {N_IMAGES}", timeout=20)
    return browser, f"{running_app}/api/v1/datasets/{dataset['id']}"


def hex_of(css_color: str) -> str:
    red, green, blue = (int(v) for v in re.findall(r"\d+", css_color)[:3])
    return f"#{red:02x}{green:02x}{blue:02x}"


def painted(browser, selector: str) -> list[dict]:
    """Text, background and text colour (as #rrggbb) of the elements, as drawn."""
    rows = browser.driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => {"
        "  const style = getComputedStyle(e);"
        "  return {text: e.innerText, title: e.title, label: e.dataset.label || null,"
        "          background: style.backgroundColor, color: style.color}; })", selector)
    return [{**row, "background": hex_of(row["background"]), "color": hex_of(row["color"])}
            for row in rows]


def type_class(browser, name: str) -> None:
    field = browser.find_element("#label-new-name")
    field.send_keys(name, Keys.ENTER)


def select_tiles(browser, first: int, last: int) -> None:
    tiles = browser.find_elements("#label-grid .thumb-tile")
    click(browser, tiles[first])
    if last != first:
        ActionChains(browser.driver).key_down(Keys.SHIFT).click(tiles[last]) \
            .key_up(Keys.SHIFT).perform()
    until(lambda: len(browser.find_elements("#label-grid .thumb-tile.selected"))
          == last - first + 1, timeout=10)


def history_rows(browser) -> list[str]:
    return browser.driver.execute_script(
        "return [...document.querySelectorAll('#label-history .event-text')]"
        ".map(e => e.innerText)")


def test_class_colours_form_refusals_history_words_and_efficiency(label_page, tmp_path):
    browser, dataset_api = label_page
    for name in CLASSES:
        type_class(browser, name)
        browser.wait_for_contains_text("#label-classes", name)
    until(lambda: len(browser.find_elements("#label-classes .class-row")) == len(CLASSES),
          timeout=10)

    # each new class took the next palette colour, and the picker offers the one after
    swatches = painted(browser, "#label-classes .class-row .swatch")
    assert [s["background"] for s in swatches] == [c.lower() for c in PALETTE[:len(CLASSES)]]
    until(lambda: browser.find_element("#label-new-color").get_attribute("value")
          == PALETTE[len(CLASSES)].lower(), timeout=10)

    # a duplicate name is refused by the field, not above the gallery
    type_class(browser, "rings")
    browser.wait_for_contains_text("#label-class-form-error", "already has a label named 'rings'")
    field = browser.find_element("#label-new-name")
    assert "is-invalid" in field.get_attribute("class")
    assert text_of(browser, "#label-feedback") == ""
    error_box = browser.find_element("#label-class-form-error").rect
    assert 0 <= field.rect["y"] - (error_box["y"] + error_box["height"]) < 40
    assert abs(field.rect["x"] - error_box["x"]) < 40
    field.send_keys("2")  # typing a new name takes the refusal away
    until(lambda: text_of(browser, "#label-class-form-error") == "", timeout=10)
    assert "is-invalid" not in field.get_attribute("class")
    field.send_keys(Keys.CONTROL, "a", Keys.DELETE)

    # three tiles 'rings' (hotkey 2), one 'peaks' (hotkey 4)
    select_tiles(browser, 0, 2)
    press(browser, "2")
    browser.wait_for_contains_text("#label-progress-text", f"3 / {N_IMAGES} labeled")
    select_tiles(browser, 5, 5)
    press(browser, "4")
    browser.wait_for_contains_text("#label-progress-text", f"4 / {N_IMAGES} labeled")

    # the bar: one segment per class in its colour, readable text, a narrow one leaves
    # its count to the tooltip and the legend
    segments = {s["label"]: s for s in painted(browser, "#label-progress .label-progress-segment")}
    assert set(segments) == {"rings", "peaks"}
    assert segments["rings"]["background"] == PALETTE[1].lower()
    assert segments["peaks"]["background"] == PALETTE[3].lower()
    assert segments["rings"]["text"] == "3"
    assert segments["peaks"]["text"] == "" and segments["peaks"]["title"] == "peaks: 1 (1.7 %)"
    for segment in segments.values():
        assert contrast_ratio(segment["color"], segment["background"]) >= MIN_TEXT_CONTRAST
    assert "peaks: 1 (1.7 %)" in text_of(browser, "#label-progress .label-progress-legend")

    # the history says what happened, class names in readable pills
    until(lambda: len(history_rows(browser)) == 2, timeout=10)
    rows = history_rows(browser)
    peaks_event, rings_event = (int(re.match(r"#(\d+) ", row).group(1)) for row in rows)
    assert rows == [f"#{peaks_event} tester labeled 1 item peaks",
                    f"#{rings_event} tester labeled 3 items rings"]
    for pill in painted(browser, "#label-history .class-pill"):
        assert pill["background"] == PALETTE[CLASSES.index(pill["text"])].lower()
        assert contrast_ratio(pill["color"], pill["background"]) >= MIN_TEXT_CONTRAST

    # undo from the keyboard, said as such, and the undone row says so
    press(browser, "z")
    browser.wait_for_contains_text("#label-progress-text", f"3 / {N_IMAGES} labeled")
    until(lambda: len(history_rows(browser)) == 3, timeout=10)
    rows = history_rows(browser)
    assert re.fullmatch(rf"#\d+ tester undid #{peaks_event} \(1 item\)", rows[0]), rows[0]
    assert rows[1] == f"#{peaks_event} tester labeled 1 item peaks · undone by " \
                      f"{rows[0].split()[0]}"

    # an import, by choosing a CSV file as a person does
    unlabeled = call_api(dataset_api, "/items?unlabeled=true&limit=2")["items"]
    csv_file = tmp_path / "more.csv"
    csv_file.write_text("uri,label\n" + "".join(f"{i['uri']},empty\n" for i in unlabeled))
    browser.driver.find_element(By.CSS_SELECTOR, "#label-import input[type=file]") \
        .send_keys(str(csv_file))
    browser.wait_for_contains_text("#label-progress-text", f"5 / {N_IMAGES} labeled")
    until(lambda: history_rows(browser)[0].endswith("imported 2 items empty"), timeout=10)

    # efficiency: labeling methods only; the undo and the import said apart
    browser.wait_for_contains_text("#label-efficiency", "imported 2 labels")
    methods = browser.driver.execute_script(
        "return [...document.querySelectorAll('#label-efficiency tbody tr td:first-child')]"
        ".map(td => td.innerText)")
    assert methods == ["by hand"]
    assert "undos reverted 1 label" in text_of(browser, "#label-efficiency")
    save_screenshot(browser, "label-panels")
    assert browser.get_logs() == [], "the browser console shows errors"


def test_class_edit_refusal_marks_the_field(label_page):
    browser, _ = label_page
    for name in ("rings", "peaks"):
        type_class(browser, name)
        browser.wait_for_contains_text("#label-classes", name)
    until(lambda: len(browser.find_elements("#label-classes .class-row")) == 2, timeout=10)
    click(browser, browser.find_element("#label-classes .class-row:nth-child(2) .bi-pencil"))
    browser.wait_for_element(".modal.show #label-edit-name")
    name = browser.find_element("#label-edit-name")
    name.send_keys(Keys.CONTROL, "a", Keys.DELETE)
    name.send_keys("rings")
    browser.find_element("#label-edit-save").click()
    until(lambda: "is-invalid" in name.get_attribute("class"), timeout=10)
    assert "is-invalid" not in browser.find_element("#label-edit-hotkey").get_attribute("class")
    assert browser.find_elements(".modal.show")  # stays open to correct the name
    # the reason is said in the dialog, under its fields, not behind it
    browser.wait_for_contains_text(".modal.show #label-edit-error", "rings", timeout=10)

    # a free name saves and closes the dialog
    name.send_keys(Keys.CONTROL, "a", Keys.DELETE)
    name.send_keys("bragg peaks")
    browser.find_element("#label-edit-save").click()
    until(lambda: not browser.find_elements(".modal.show"), timeout=10)
    browser.wait_for_contains_text("#label-classes", "bragg peaks")
