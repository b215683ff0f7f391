"""The jobs page in headless Chromium: filters, data-set names, links to the results, and a
delete that asks first and never frees an id. No worker runs, so the jobs stay queued."""
from __future__ import annotations

import json

import pytest
from selenium.webdriver.support.select import Select

from tests.browser import (by_pattern_id, call_api, click, demo_in_app, jobs_panel_text,
                           save_screenshot, text_of, wait_for)


def listed_jobs(browser) -> list[int]:
    """The job numbers of the panel's rows, top to bottom."""
    return browser.driver.execute_script(
        "return [...document.querySelectorAll('.jobs-row')]"
        ".map(row => Number(JSON.parse(row.id).job))")


def pattern_text(browser, **component_id) -> str:
    """The text of an element with a pattern-matching id ('' while there is none)."""
    element_id = json.dumps(dict(sorted(component_id.items())), separators=(",", ":"))
    return browser.driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : ''",
        element_id)


def tick(browser, checklist_id: str, option: str) -> None:
    """Tick (or untick) the box labelled ``option`` of a checklist."""
    boxes = browser.driver.find_elements(
        "css selector", f"#{checklist_id} .form-check-label")
    click(browser, next(box for box in boxes if box.text == option))


def start_job(base: str, kind: str, dataset_id: int) -> int:
    return call_api(base, "/api/v1/jobs", {"kind": kind, "dataset_id": dataset_id})["id"]


@pytest.fixture
def jobs_page(browser, running_app, tmp_path):
    base = running_app
    beamtime, _, _ = demo_in_app(base, tmp_path / "beamtime", 6, 32, 1, ("rings", "empty"))
    calibration, _, _ = demo_in_app(base, tmp_path / "calibration", 6, 32, 2,
                                    ("rings", "empty"))
    jobs = {"stats": start_job(base, "dataset_stats", beamtime),
            "calibration": start_job(base, "dataset_stats", calibration),
            "scattering": start_job(base, "scattering_features", beamtime)}
    call_api(base, f"/api/v1/jobs/{jobs['calibration']}/cancel", {})
    browser.driver.get(f"{base}/jobs")
    wait_for(lambda: len(listed_jobs(browser)) == 3, 20, "the jobs are not listed")
    return browser, base, {"beamtime": beamtime, "calibration": calibration}, jobs


def test_rows_name_their_data_set_and_the_filters_narrow_the_list(jobs_page):
    browser, _base, _datasets, jobs = jobs_page
    rows = jobs_panel_text(browser)
    assert "beamtime" in rows and "calibration" in rows and "data set 1" not in rows

    tick(browser, "jobs-page-status", "cancelled")
    wait_for(lambda: listed_jobs(browser) == [jobs["calibration"]], 10,
             "the status filter did not narrow the list")
    tick(browser, "jobs-page-status", "cancelled")  # untick: all statuses again
    tick(browser, "jobs-page-kind", "scattering_features")
    wait_for(lambda: listed_jobs(browser) == [jobs["scattering"]], 10,
             "the kind filter did not narrow the list")
    tick(browser, "jobs-page-kind", "dataset_stats")  # two kinds: either one
    wait_for(lambda: len(listed_jobs(browser)) == 3, 10, "a second kind did not add its jobs")
    tick(browser, "jobs-page-kind", "scattering_features")
    wait_for(lambda: sorted(listed_jobs(browser)) == [jobs["stats"], jobs["calibration"]], 10,
             "unticking a kind did not remove its jobs")

    Select(browser.find_element("#jobs-page-dataset")).select_by_visible_text("calibration")
    wait_for(lambda: listed_jobs(browser) == [jobs["calibration"]], 10,
             "the data-set filter did not narrow the list")
    save_screenshot(browser, "jobs_filtered")


def test_a_row_links_to_the_page_that_shows_its_results(jobs_page):
    browser, base, datasets, jobs = jobs_page
    link = by_pattern_id(browser, job=jobs["scattering"], scope="all", type="jobs-results-link")
    assert link.get_attribute("href") == (
        f"{base}/autoencoder?dataset={datasets['beamtime']}&job={jobs['scattering']}")
    click(browser, link)
    wait_for(lambda: f"Job #{jobs['scattering']} · scattering_features"
             in pattern_text(browser, scope="autoencoder", type="jobs-detail"), 20,
             "the autoencoder page did not open with the job selected")
    assert browser.driver.current_url.startswith(f"{base}/autoencoder")


def test_delete_asks_first_says_what_is_lost_and_the_id_is_never_reused(jobs_page):
    browser, base, datasets, jobs = jobs_page
    newest = jobs["scattering"]
    assert listed_jobs(browser)[0] == newest  # selected: the newest
    delete = by_pattern_id(browser, scope="all", type="jobs-delete")

    click(browser, delete)
    wait_for(lambda: f"Job #{newest}" in text_of(browser, ".modal-body"), 10,
             "Delete did not ask first")
    question = text_of(browser, ".modal-body")
    assert "scattering_features" in question and "beamtime" in question
    assert "artifact folder" in question and "cannot be undone" in question
    save_screenshot(browser, "jobs_delete_confirmation")
    click(browser, by_pattern_id(browser, scope="all", type="jobs-confirm-keep"))
    wait_for(lambda: not browser.driver.find_elements("css selector", ".modal.show"), 10,
             "Keep it did not close the dialog")
    assert newest in listed_jobs(browser)

    click(browser, delete)
    wait_for(lambda: f"Job #{newest}" in text_of(browser, ".modal-body"), 10,
             "Delete did not ask the second time")
    click(browser, by_pattern_id(browser, scope="all", type="jobs-confirm-delete"))
    wait_for(lambda: newest not in listed_jobs(browser), 10, "the job was not deleted")
    assert all(job["id"] != newest for job in call_api(base, "/api/v1/jobs")["jobs"])

    again = start_job(base, "dataset_stats", datasets["beamtime"])
    assert again > newest
    wait_for(lambda: listed_jobs(browser)[:1] == [again], 20, "the new job is not listed")
