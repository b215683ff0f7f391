"""The gallery fetches the thumbnails it shows before those of the next page, which it
fetches ahead (assets/label_keys.js): read from the browser's own resource timings."""
from dash.testing.wait import until
from selenium.webdriver.support.ui import Select

from data.demo import generate_demo
from tests.browser import call_api

PAGE = 48
N_IMAGES = 3 * PAGE

# (url, start, end) of every thumbnail the page has fetched, in milliseconds
THUMBNAIL_TIMINGS = """
return performance.getEntriesByType('resource')
  .filter(e => e.name.includes('/thumbs/'))
  .map(e => [new URL(e.name).pathname + new URL(e.name).search, e.startTime, e.responseEnd]);
"""
SHOWN = """
return [...document.querySelectorAll('#label-grid .thumb-tile img')]
  .map(i => [new URL(i.src).pathname + new URL(i.src).search, i.complete && i.naturalWidth > 0]);
"""


def shown_thumbnails(browser) -> list[str]:
    """The page's thumbnail addresses once every one of them has loaded."""
    until(lambda: all(loaded for _, loaded in browser.driver.execute_script(SHOWN) or [[0, 0]]),
          30)
    return [url for url, _ in browser.driver.execute_script(SHOWN)]


def timings_once_prefetched(browser, colormap: str,
                            count: int) -> dict[str, tuple[float, float]]:
    """(start, end) of the first fetch of each thumbnail in ``colormap``, once ``count``
    were fetched."""
    def timings():
        first = {}
        for url, start, end in browser.driver.execute_script(THUMBNAIL_TIMINGS):
            if f"cmap={colormap}" in url:
                first.setdefault(url, (start, end))
        return first
    until(lambda: len(timings()) >= count, 30)
    return timings()


def assert_shown_first(shown: list[str], timings: dict, fetched_ahead: set[str]) -> None:
    assert len(fetched_ahead) == PAGE
    last_shown = max(timings[url][1] for url in shown)
    first_ahead = min(timings[url][0] for url in fetched_ahead)
    assert last_shown <= first_ahead, (last_shown, first_ahead)


def test_shown_tiles_load_before_the_next_page_is_fetched_ahead(browser, running_app, tmp_path):
    generate_demo(tmp_path / "beamtime", n_images=N_IMAGES, size=256, seed=5)
    dataset = call_api(running_app, "/api/v1/datasets", {
        "name": "beamtime", "source": {"kind": "directory", "path": str(tmp_path / "beamtime")}})
    until(lambda: call_api(running_app, f"/api/v1/datasets/{dataset['id']}")["status"]
          == "ready", 60)
    browser.driver.get(f"{running_app}/label?dataset={dataset['id']}")
    browser.wait_for_contains_text("#label-summary", f"items 1–48 of {N_IMAGES}", timeout=20)
    shown_thumbnails(browser)
    browser.driver.execute_script(  # room for every request from here on
        "performance.clearResourceTimings(); performance.setResourceTimingBufferSize(5000)")
    # Colours nobody has drawn yet: every thumbnail is rendered when it is asked for.
    browser.find_element("#label-view-button").click()
    Select(browser.find_element("#label-colormap")).select_by_visible_text("viridis")
    until(lambda: "cmap=viridis" in shown_thumbnails(browser)[0], 30)
    first = shown_thumbnails(browser)
    timings = timings_once_prefetched(browser, "viridis", 2 * PAGE)
    assert set(first) <= set(timings)
    assert_shown_first(first, timings, set(timings) - set(first))

    browser.find_element("#label-view-button").click()  # closes the menu
    browser.find_element("#label-next").click()
    browser.wait_for_contains_text("#label-summary", "items 49–96", timeout=20)
    second = shown_thumbnails(browser)
    assert not set(second) & set(first)
    assert set(second) <= set(timings)  # fetched ahead: shown from the browser's cache
    timings = timings_once_prefetched(browser, "viridis", 3 * PAGE)
    assert_shown_first(second, timings, set(timings) - set(first) - set(second))
