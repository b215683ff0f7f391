"""The explorer while a live data set grows, in headless Chromium: items whose feature rows
arrive after the projection was fitted appear on the open plot, placed by the fitted
projection (not recomputed), without a reload; a real lasso drag selects them with the
fitted points around them, and labeling the selection labels them too."""
from __future__ import annotations

import numpy as np
from dash.testing.wait import until
from selenium.webdriver.support.select import Select

from db.session import open_database
from ml.projection_place import place_new_points
from ml.projection_results import load_projection
from tests.browser import call_api, save_screenshot
from tests.feature_jobs import make_feature_job
from tests.growing_features import append_feature_rows
from tests.plot_pointer import scroll_into_view
from tests.test_browser_explorer import (CLASSES, GRAPH, N_IMAGES, clustered_items, drag_around,
                                         open_explorer, selected_thumbs, trace_names)

LATE = 3  # items of a class that arrive after the fit, for rings and for peaks


def make_growing_data(app_url, settings, folder):
    """Demo images, a label class, a feature job of all but LATE rings and LATE peaks, and
    the rows of those late items; (data set, label, feature job, fitted items by class,
    late item ids by class, late vectors by class)."""
    dataset_id, label_id, item_ids, classes, vectors = clustered_items(app_url, folder)
    late = np.zeros(len(item_ids), dtype=bool)
    for name in ("rings", "peaks"):
        late[np.flatnonzero(classes == CLASSES.index(name))[-LATE:]] = True
    engine, session_factory = open_database(settings)
    feature_job = make_feature_job(session_factory, dataset_id, settings.artifacts_dir,
                                   item_ids[~late], vectors[~late])
    engine.dispose()

    def of_class(mask, name):
        return mask & (classes == CLASSES.index(name))

    fitted = {name: item_ids[of_class(~late, name)].tolist() for name in CLASSES}
    late_ids = {name: item_ids[of_class(late, name)] for name in ("rings", "peaks")}
    late_vectors = {name: vectors[of_class(late, name)] for name in ("rings", "peaks")}
    return dataset_id, label_id, feature_job, fitted, late_ids, late_vectors


def drawn_points(settings, app_url, late_ids, late_vectors):
    """(item ids, coordinates) of the fitted points from the job's own files, then of the
    late items placed by the job's fitted transform, computed here."""
    (job,) = call_api(app_url, "/api/v1/jobs?kind=projection")["jobs"]
    engine, session_factory = open_database(settings)
    with session_factory() as session:
        projection = load_projection(session, job["id"])
        placed = place_new_points(projection.job, late_vectors)
        item_ids = np.concatenate([projection.item_ids, late_ids])
        points = np.concatenate([np.array(projection.points), placed])
    engine.dispose()
    return item_ids, points


def test_arrived_items_are_placed_on_the_open_plot_and_a_lasso_selects_them(
        browser, running_app, browser_settings, tmp_path):
    dataset_id, label_id, feature_job, fitted, late_ids, late_vectors = make_growing_data(
        running_app, browser_settings, tmp_path / "beamtime")
    open_explorer(browser, running_app, dataset_id, feature_job)
    browser.find_element("#explorer-run").click()
    browser.wait_for_contains_text("#explorer-feedback", "succeeded", timeout=30)
    fitted_count = N_IMAGES - 2 * LATE
    until(lambda: trace_names(browser) == [f"unlabeled ({fitted_count})"], timeout=15)

    # items arrive while the page is open: first rings, then peaks
    engine, session_factory = open_database(browser_settings)
    append_feature_rows(session_factory, feature_job, late_ids["rings"], late_vectors["rings"])
    until(lambda: f"new (placed) ({LATE})" in trace_names(browser), timeout=20)
    append_feature_rows(session_factory, feature_job, late_ids["peaks"], late_vectors["peaks"])
    engine.dispose()
    until(lambda: trace_names(browser) == [f"unlabeled ({fitted_count})",
                                           f"new (placed) ({2 * LATE})"], timeout=20)
    browser.wait_for_contains_text("#explorer-placed-note", f"{2 * LATE} items that arrived")
    # placed, not refitted: still one projection job, of the fitted items only
    jobs = call_api(running_app, "/api/v1/jobs?kind=projection")["jobs"]
    assert len(jobs) == 1 and jobs[0]["result"]["items"] == fitted_count

    # a lasso around the rings takes the fitted ones and the ones that arrived
    late = np.concatenate([late_ids["rings"], late_ids["peaks"]])
    stored = drawn_points(browser_settings, running_app, late,
                          np.concatenate([late_vectors["rings"], late_vectors["peaks"]]))
    rings = sorted(fitted["rings"] + late_ids["rings"].tolist())
    scroll_into_view(browser.driver, GRAPH)
    drag_around(browser, "lasso", stored, rings)
    until(lambda: selected_thumbs(browser) == rings, timeout=15)
    browser.wait_for_contains_text("#explorer-count", f"{len(rings)} items selected", timeout=15)
    browser.wait_for_contains_text("#explorer-summary",
                                   f"{LATE} of them arrived after the fit")
    save_screenshot(browser, "explorer-arrivals")

    Select(browser.find_element("#explorer-label")).select_by_value(str(label_id))
    browser.find_element("#explorer-apply-label").click()
    browser.wait_for_contains_text("#explorer-label-feedback", f"Labeled {len(rings)} items")
    labeled = call_api(running_app, f"/api/v1/datasets/{dataset_id}/current-labels")
    assert sorted(row["item_id"] for row in labeled["labels"]) == rings
    assert not [entry for entry in browser.get_logs() if "Error" in entry["message"]]
