"""The autoencoder page in headless Chromium, with the launcher's real Celery worker."""
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from data.demo import generate_demo
from tests.browser import (JOB_TIMEOUT, by_pattern_id, call_api, click, jobs_panel_text,
                           plot_points, save_screenshot, train_from_page, type_into, wait_for,
                           wait_until_queued)


def field_error(browser, name: str):
    return by_pattern_id(browser, index=name, type="autoencoder-field-error")


def form_messages(browser) -> dict[str, str]:
    """The form's messages that are shown, by field."""
    return browser.driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('[id*=autoencoder-field-error]')]"
        ".filter(e => e.innerText).map(e => [JSON.parse(e.id).index, e.innerText]))")


def invalid_fields(browser) -> list[str]:
    """The form fields drawn as invalid, in page order."""
    return browser.driver.execute_script(
        "return [...document.querySelectorAll('.is-invalid[id*=autoencoder-field]')]"
        ".map(e => JSON.parse(e.id).index)")


def diagram_labels(browser) -> list[dict]:
    """The diagram's block labels and whether each lies whole inside the plot."""
    return browser.driver.execute_script(
        "const svg = document.querySelector('#autoencoder-architecture svg.main-svg');"
        "const box = svg.getBoundingClientRect();"
        "return [...document.querySelectorAll('#autoencoder-architecture .xtick text')]"
        ".map(t => { const r = t.getBoundingClientRect(); return {text: t.textContent,"
        " inside: r.left >= box.left && r.right <= box.right && r.top >= box.top"
        " && r.bottom <= box.bottom}; })")


def headings(browser) -> list[str]:
    return browser.driver.execute_script(
        "return [...document.querySelectorAll('#autoencoder-reconstructions "
        ".reconstruction-heading')].map(h => h.innerText)")


def panel_button(browser, part: str):
    return by_pattern_id(browser, scope="autoencoder", type=part)


def type_into_form(browser, name: str, value) -> None:
    type_into(browser, "autoencoder-field", name, value)


@pytest.fixture
def autoencoder_page(worker_browser, running_app_with_worker, tmp_path):
    generate_demo(tmp_path / "beamtime", n_images=48, size=32, seed=5)
    dataset = call_api(running_app_with_worker, "/api/v1/datasets", {
        "name": "beamtime", "source": {"kind": "directory", "path": str(tmp_path / "beamtime")}})
    worker_browser.driver.get(f"{running_app_with_worker}/autoencoder?dataset={dataset['id']}")
    worker_browser.wait_for_contains_text("#autoencoder-architecture-summary", "parameters",
                                          timeout=20)
    return worker_browser, dataset["id"]


def test_train_from_the_page_fills_the_loss_plot(autoencoder_page, running_app_with_worker):
    browser, dataset_id = autoencoder_page

    # A size the network cannot take is said once, by the sides at fault; Train is off.
    train = browser.find_element("#autoencoder-train")
    type_into_form(browser, "depth", 6)
    wait_for(lambda: not train.is_enabled(), 10, "Train stayed on for an invalid form")
    assert form_messages(browser) == {"image_cols": (
        "Height 64 and width 64 are not multiples of 2^depth = 64 (at least 128 px): try "
        "128 × 128, or a lower depth.")}
    assert invalid_fields(browser) == ["image_rows", "image_cols"]
    type_into_form(browser, "depth", 2)
    type_into_form(browser, "image_cols", 30)
    wait_for(lambda: invalid_fields(browser) == ["image_cols"], 10,
             "only the side at fault must be marked")
    assert list(form_messages(browser)) == ["image_cols"]
    assert form_messages(browser)["image_cols"].startswith("Width 30 is not a multiple")
    assert not train.is_enabled()
    assert call_api(running_app_with_worker, f"/api/v1/jobs?dataset_id={dataset_id}")["jobs"] == []

    # A small network: the diagram follows the parameters, its labels whole, its colours
    # explained.
    for name, value in (("image_rows", 32), ("image_cols", 32), ("depth", 2),
                        ("base_channels", 4), ("latent_dim", 8), ("epochs", 4),
                        ("batch_size", 16)):
        type_into_form(browser, name, value)
    browser.wait_for_contains_text("#autoencoder-architecture-summary", "bottleneck 8×8×8",
                                   timeout=10)
    assert form_messages(browser) == {} and invalid_fields(browser) == []
    assert train.is_enabled()
    labels = diagram_labels(browser)
    assert "4×32×32" in [label["text"] for label in labels] and "8" in [
        label["text"] for label in labels]
    assert all(label["inside"] for label in labels), labels
    legend = browser.driver.execute_script(  # SVG text: textContent, not innerText
        "return document.querySelector('#autoencoder-architecture .legend').textContent")
    assert "3×3 convolution" in legend and "fully connected" in legend

    train_from_page(browser, "autoencoder", "autoencoder-loss", [4, 4])
    job = call_api(running_app_with_worker, f"/api/v1/jobs?dataset_id={dataset_id}")["jobs"][0]
    assert job["kind"] == "autoencoder_train" and len(job["metrics"]) == 4
    assert job["params"]["depth"] == 2 and job["params"]["image_size"] == [32, 32]
    wait_for(lambda: len(browser.find_elements("#autoencoder-reconstructions img")) == 16, 10,
             "no reconstructions next to the originals")
    save_screenshot(browser, "autoencoder_trained")

    # Inference with the selected model: one vector per item.
    click(browser, browser.find_element("#autoencoder-infer"))
    wait_for(lambda: "autoencoder_infer" in jobs_panel_text(browser), 10, "inference not listed")
    wait_for(lambda: jobs_panel_text(browser).count("succeeded") == 2, JOB_TIMEOUT,
             "inference did not finish")
    inferred = call_api(running_app_with_worker, f"/api/v1/jobs?dataset_id={dataset_id}")["jobs"][0]
    assert inferred["kind"] == "autoencoder_infer" and inferred["result"]["items"] == 48
    # Its reconstructions: the best and the worst, each under its own heading.
    wait_for(lambda: len(headings(browser)) == 2, 15, "no best and worst reconstructions")
    best, worst = headings(browser)
    assert best.startswith("Best reconstructed: the 4 lowest errors of 48 images")
    assert worst.startswith("Worst reconstructed: the 4 highest errors")

    # A reload shows the same jobs; the polling has stopped since nothing runs.
    browser.driver.refresh()
    wait_for(lambda: jobs_panel_text(browser).count("succeeded") == 2, 20,
             "jobs gone after reload")
    assert browser.driver.execute_script(
        "return document.querySelectorAll('.jobs-row').length") == 2
    # Clicking a row selects that job: the training run again, with its loss curve.
    click(browser, by_pattern_id(browser, job=job["id"], scope="autoencoder", type="jobs-row"))
    browser.wait_for_contains_text("#autoencoder-loss", f"job #{job['id']}", timeout=10)
    assert plot_points(browser, "autoencoder-loss") == [4, 4]


def test_cancel_and_delete_from_the_jobs_panel(autoencoder_page, running_app_with_worker):
    browser, dataset_id = autoencoder_page
    for name, value in (("image_rows", 32), ("image_cols", 32), ("depth", 2),
                        ("base_channels", 4), ("latent_dim", 8), ("epochs", 1000)):
        type_into_form(browser, name, value)
    browser.wait_for_contains_text("#autoencoder-architecture-summary", "latent 8", timeout=10)
    click(browser, browser.find_element("#autoencoder-train"))
    wait_for(lambda: "running" in jobs_panel_text(browser), JOB_TIMEOUT, "the job never ran")

    click(browser, panel_button(browser, "jobs-cancel"))
    wait_for(lambda: "cancelled" in jobs_panel_text(browser), 60, "cancel did not stop the job")
    job = call_api(running_app_with_worker, f"/api/v1/jobs?dataset_id={dataset_id}")["jobs"][0]
    assert job["status"] == "cancelled" and len(job["metrics"]) < 1000

    click(browser, panel_button(browser, "jobs-delete"))  # asks first
    wait_for(lambda: panel_button(browser, "jobs-confirm-delete").is_displayed(), 10,
             "Delete did not ask first")
    click(browser, panel_button(browser, "jobs-confirm-delete"))
    wait_for(lambda: "No jobs yet" in browser.driver.find_element(By.TAG_NAME, "body").text, 20,
             "the job was not deleted")
    assert call_api(running_app_with_worker, f"/api/v1/jobs?dataset_id={dataset_id}")["jobs"] == []


def test_a_collapsed_model_is_flagged_next_to_its_results(autoencoder_page,
                                                          running_app_with_worker):
    """One epoch at the smallest learning rate leaves a model that has learnt nothing: the
    page says its features will not group the images, and what to do."""
    browser, dataset_id = autoencoder_page
    for name, value in (("image_rows", 32), ("image_cols", 32), ("depth", 2),
                        ("base_channels", 4), ("latent_dim", 8), ("epochs", 1),
                        ("learning_rate", "0.0000001")):
        type_into_form(browser, name, value)
    browser.wait_for_contains_text("#autoencoder-architecture-summary", "bottleneck 8×8×8",
                                   timeout=10)
    train_from_page(browser, "autoencoder", "autoencoder-loss", [1, 1])
    browser.wait_for_contains_text("#autoencoder-collapse", "will not group your images",
                                   timeout=10)
    warning = browser.find_element("#autoencoder-collapse").text
    assert "more epochs" in warning
    job = call_api(running_app_with_worker, f"/api/v1/jobs?dataset_id={dataset_id}")["jobs"][0]
    assert job["result"]["collapse"]["collapsed"] and job["params"]["learning_rate"] == 1e-7
    browser.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})",
                                  browser.find_element("#autoencoder-collapse"))
    save_screenshot(browser, "autoencoder_collapsed")


def test_a_contrastive_feature_source_from_the_feature_sources_card(autoencoder_page,
                                                                    running_app_with_worker):
    """Chosen in the card, refused next to the field to change, then queued, run and shown
    in the page's jobs panel with its loss per epoch."""
    browser, dataset_id = autoencoder_page
    card_kind = browser.find_element("#autoencoder-feature-kind")
    click(browser, card_kind)
    Select(card_kind).select_by_visible_text("Contrastive encoder")
    wait_for(lambda: feature_field(browser, "image_size").is_displayed(), 10,
             "the contrastive encoder's fields are not shown")
    assert not feature_field(browser, "batch_size", "scattering_features").is_displayed()

    type_into_feature(browser, "image_size", 36)  # not a multiple of 2^depth
    click(browser, browser.find_element("#autoencoder-feature-run"))
    browser.wait_for_contains_text("#autoencoder-feature-feedback", "params.image_size",
                                   timeout=10)
    wait_for(lambda: "multiple" in by_pattern_id(
        browser, index="contrastive_features.image_size",
        type="autoencoder-feature-field-error").text, 10, "no message next to the image side")
    assert call_api(running_app_with_worker, f"/api/v1/jobs?dataset_id={dataset_id}")["jobs"] == []

    for name, value in (("image_size", 32), ("depth", 2), ("base_channels", 4),
                        ("latent_dim", 8), ("projection_dim", 8), ("epochs", 2),
                        ("batch_size", 16)):
        type_into_feature(browser, name, value)
    click(browser, browser.find_element("#autoencoder-feature-run"))
    wait_until_queued(browser, "#autoencoder-feature-feedback", ("contrastive_features",))
    wait_for(lambda: "contrastive_features" in jobs_panel_text(browser), 10, "job not listed")
    wait_for(lambda: "succeeded" in jobs_panel_text(browser), JOB_TIMEOUT,
             "the contrastive encoder did not finish")
    wait_for(lambda: plot_points(browser, "autoencoder-loss") == [2, 2], 15,
             "no loss per epoch for the contrastive encoder")
    job = call_api(running_app_with_worker, f"/api/v1/jobs?dataset_id={dataset_id}")["jobs"][0]
    assert job["kind"] == "contrastive_features" and job["params"]["epochs"] == 2
    assert job["params"]["image_size"] == 32 and job["result"]["items"] == 48
    browser.driver.execute_script("window.scrollTo(0, 0)")  # the jobs panel and the loss
    save_screenshot(browser, "autoencoder_contrastive_features")


def feature_field(browser, name: str, kind: str = "contrastive_features"):
    return by_pattern_id(browser, index=f"{kind}.{name}", type="autoencoder-feature-field")


def type_into_feature(browser, name: str, value) -> None:
    type_into(browser, "autoencoder-feature-field", f"contrastive_features.{name}", value)
