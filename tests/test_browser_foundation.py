"""End to end in headless Chromium: create the demo data set and browse its thumbnails."""
from dash.testing.wait import until
from selenium.webdriver.common.by import By

from tests.browser import save_screenshot


def loaded_thumbnails(browser) -> int:
    return browser.driver.execute_script(
        "return [...document.querySelectorAll('.thumb-tile img')]"
        ".filter(img => img.complete && img.naturalWidth > 0).length")


def test_register_demo_and_browse_thumbnails(browser):
    browser.wait_for_text_to_equal("#datasets-table", "No data set registered yet.")
    browser.find_element("#datasets-demo").click()
    # asking for the demo opens it for labeling
    browser.wait_for_contains_text("#label-summary", "items 1–48 of 600", timeout=90)
    assert browser.driver.current_url.endswith("/label?dataset=1")
    browser.wait_for_text_to_equal("#label-page-info", "of 13")
    until(lambda: loaded_thumbnails(browser) == 48, timeout=30)
    first_page = browser.find_elements(".thumb-tile img")[0].get_attribute("src")
    assert "/thumbs/" in first_page
    save_screenshot(browser, "foundation-gallery")

    browser.find_element("#label-next").click()
    browser.wait_for_contains_text("#label-summary", "items 49–96 of 600")
    until(lambda: loaded_thumbnails(browser) == 48, timeout=30)
    assert browser.find_elements(".thumb-tile img")[0].get_attribute("src") != first_page
    browser.find_element("#label-last").click()
    browser.wait_for_contains_text("#label-summary", "items 577–600 of 600")
    assert len(browser.find_elements(".thumb-tile")) == 24

    browser.driver.find_element(By.LINK_TEXT, "Data sets").click()  # back on the start page
    browser.wait_for_contains_text("#datasets-table", "600", timeout=30)
    assert "demo" in browser.find_element("#datasets-table").text
    save_screenshot(browser, "foundation-datasets")
    assert browser.get_logs() == [], "the browser console shows errors"


def test_folder_outside_the_data_roots_is_refused(browser):
    folder = browser.find_element("#datasets-folder")
    folder.clear()
    folder.send_keys("/etc\n")
    browser.wait_for_contains_text("#datasets-folder-list", "outside the data roots")
    browser.find_element("#datasets-name").send_keys("system")
    browser.find_element("#datasets-register").click()
    browser.wait_for_contains_text("#datasets-feedback", "data roots")
    assert browser.driver.find_elements(By.CSS_SELECTOR, "#datasets-table table") == []
