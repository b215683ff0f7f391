"""End to end in headless Chromium: create the demo data set and browse its thumbnails."""
from selenium.webdriver.common.by import By

from app import create_app
from tests.browser import save_screenshot


def loaded_thumbnails(dash_duo) -> int:
    return dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('.thumb-tile img')]"
        ".filter(img => img.complete && img.naturalWidth > 0).length")


def test_register_demo_and_browse_thumbnails(dash_duo, browser_settings):
    dash_duo.start_server(create_app(browser_settings))
    dash_duo.wait_for_text_to_equal("#datasets-table", "No data set registered yet.")
    dash_duo.find_element("#datasets-demo").click()
    dash_duo.wait_for_contains_text("#datasets-feedback", "Registered 'demo'", timeout=60)
    dash_duo.wait_for_contains_text("#datasets-table", "600", timeout=30)
    save_screenshot(dash_duo, "foundation-datasets")

    dash_duo.find_element("#datasets-feedback a").click()
    dash_duo.wait_for_contains_text("#gallery-summary", "items 1–48 of 600", timeout=20)
    dash_duo.wait_for_text_to_equal("#gallery-page-info", "of 13")
    dash_duo.wait_until(lambda: loaded_thumbnails(dash_duo) == 48, timeout=30)
    first_page = dash_duo.find_elements(".thumb-tile img")[0].get_attribute("src")
    assert "/thumbs/" in first_page
    save_screenshot(dash_duo, "foundation-gallery")

    dash_duo.find_element("#gallery-next").click()
    dash_duo.wait_for_contains_text("#gallery-summary", "items 49–96 of 600")
    dash_duo.wait_until(lambda: loaded_thumbnails(dash_duo) == 48, timeout=30)
    assert dash_duo.find_elements(".thumb-tile img")[0].get_attribute("src") != first_page
    dash_duo.find_element("#gallery-last").click()
    dash_duo.wait_for_contains_text("#gallery-summary", "items 577–600 of 600")
    assert len(dash_duo.find_elements(".thumb-tile")) == 24
    assert dash_duo.get_logs() == [], "the browser console shows errors"


def test_folder_outside_the_data_roots_is_refused(dash_duo, browser_settings):
    dash_duo.start_server(create_app(browser_settings))
    folder = dash_duo.find_element("#datasets-folder")
    folder.clear()
    folder.send_keys("/etc\n")
    dash_duo.wait_for_contains_text("#datasets-folder-list", "outside the data roots")
    dash_duo.find_element("#datasets-name").send_keys("system")
    dash_duo.find_element("#datasets-register").click()
    dash_duo.wait_for_contains_text("#datasets-feedback", "data roots")
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, "#datasets-table table") == []
