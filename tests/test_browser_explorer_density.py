"""The explorer over more points than it draws, in headless Chromium: with a points limit
below the projection's size the plot shows their density; a real mouse lasso over it selects
exactly the items inside; a box zoom onto a few points draws them as points, and a double
click goes back to the density."""
from __future__ import annotations

import numpy as np
from dash.testing.wait import until
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from tests.browser import save_screenshot
from tests.plot_pointer import (box, choose_dragmode, drag_along, scroll_into_view, to_pixels)
from tests.test_browser_explorer import (GRAPH, drag_around, make_data, open_explorer,
                                         selected_thumbs, stored_points, trace_names)

LIMIT = 15  # of the 36 points: the whole view is a density, one class (12) is not; only
# 3 (a quarter of the limit) are drawn, invisibly, over the density: the 12 a lasso selects
# come from the server's test of the stored coordinates, not from plotly's points


def trace_types(browser) -> list[str]:
    return browser.driver.execute_script(
        "const g = document.querySelector('#explorer-graph .js-plotly-plot');"
        "return g && g.data ? g.data.map(t => t.type) : []")


def test_a_lasso_over_the_density_selects_the_items_inside_and_zooming_in_shows_points(
        browser, running_app, browser_settings, tmp_path):
    dataset_id, _label, feature_job, by_class = make_data(running_app, browser_settings,
                                                          tmp_path / "beamtime")
    open_explorer(browser, running_app, dataset_id, feature_job)
    browser.find_element("#explorer-run").click()
    browser.wait_for_contains_text("#explorer-feedback", "succeeded", timeout=30)
    until(lambda: "unlabeled (36)" in trace_names(browser), timeout=15)

    limit = browser.find_element("#explorer-points-limit")
    limit.send_keys(Keys.CONTROL, "a")
    limit.send_keys(str(LIMIT), Keys.ENTER)
    until(lambda: trace_types(browser) == ["heatmap", "scattergl"], timeout=15)
    browser.wait_for_contains_text(f"#{GRAPH}", "density of 36 points", timeout=10)
    assert browser.driver.execute_script(
        "return document.querySelector('#explorer-graph .js-plotly-plot')._fullData[1]._length"
    ) == LIMIT // 4

    stored = stored_points(browser_settings, running_app)
    scroll_into_view(browser.driver, GRAPH)
    rings = by_class["rings"]
    drag_around(browser, "lasso", stored, rings)
    browser.wait_for_contains_text("#explorer-count", f"{len(rings)} items selected", timeout=15)
    until(lambda: selected_thumbs(browser) == sorted(rings), timeout=10)
    save_screenshot(browser, "explorer-density-lasso")

    peaks = by_class["peaks"]
    drag_around(browser, "select", stored, peaks)
    browser.wait_for_contains_text("#explorer-count", f"{len(peaks)} items selected", timeout=15)
    until(lambda: selected_thumbs(browser) == sorted(peaks), timeout=10)

    # a box zoom onto one class: few enough points in view to draw them
    choose_dragmode(browser.driver, GRAPH, "zoom")
    item_ids, points = stored
    pixels = to_pixels(browser.driver, GRAPH, points)
    group = pixels[np.isin(item_ids, rings)]
    centre = group.mean(axis=0)
    reach = np.abs(group - centre).max() + 6
    drag_along(browser.driver, box(centre, reach)[[0, 1, 2]])
    until(lambda: trace_types(browser) and set(trace_types(browser)) == {"scattergl"},
          timeout=15)
    # still zooming: the drag mode chosen outlives the figure drawn again
    assert "active" in browser.find_element(
        f'#{GRAPH} .modebar-btn[data-attr="dragmode"][data-val="zoom"]').get_attribute("class")
    drawn = sum(int(name.split("(")[-1].rstrip(")")) for name in trace_names(browser))
    assert len(rings) <= drawn <= LIMIT
    save_screenshot(browser, "explorer-density-zoomed")

    # a double click shows the whole projection again: its density
    plot = browser.find_element(f"#{GRAPH} .nsewdrag")
    ActionChains(browser.driver).double_click(plot).perform()
    until(lambda: trace_types(browser) == ["heatmap", "scattergl"], timeout=15)
    assert not [entry for entry in browser.get_logs() if "Error" in entry["message"]]
