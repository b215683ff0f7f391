"""The training form's "start from" choice in headless Chromium, with the launcher's real
Celery worker: the trained models are offered by their architecture, a run built otherwise
is refused under the field before anything is queued, and a matching one fine-tunes."""
from data.demo import generate_demo
from tests.browser import (by_pattern_id, call_api, click, finished_job, type_into,
                           wait_for, wait_until_queued)

NETWORK = {"image_size": [32, 32], "depth": 2, "base_channels": 4, "latent_dim": 8,
           "epochs": 1}


def form_message(browser, name: str) -> str:
    return by_pattern_id(browser, index=name, type="autoencoder-field-error").text


def choose_start(browser, label_start: str) -> None:
    """Open the "start from" dropdown and click the model whose label begins so."""
    click(browser, by_pattern_id(browser, index="init_model", type="autoencoder-field"))

    def offered():
        return [option for option in browser.find_elements(".dash-dropdown-option")
                if option.text.startswith(label_start)]
    wait_for(offered, 10, f"no model '{label_start}…' is offered")
    click(browser, offered()[0])


def test_a_run_starts_from_a_trained_autoencoder(worker_browser, running_app_with_worker,
                                                 tmp_path):
    app, browser = running_app_with_worker, worker_browser
    generate_demo(tmp_path / "beamtime", n_images=24, size=32, seed=5)
    dataset = call_api(app, "/api/v1/datasets", {
        "name": "beamtime", "source": {"kind": "directory", "path": str(tmp_path / "beamtime")}})
    model = call_api(app, "/api/v1/jobs", {"kind": "autoencoder_train",
                                           "dataset_id": dataset["id"], "params": NETWORK})
    assert finished_job(app, model["id"])["status"] == "succeeded"

    browser.driver.get(f"{app}/autoencoder?dataset={dataset['id']}")
    browser.wait_for_contains_text("#autoencoder-architecture-summary", "parameters", timeout=20)
    for name, value in (("image_rows", 32), ("image_cols", 32), ("depth", 3),
                        ("base_channels", 4), ("latent_dim", 8), ("epochs", 1)):
        type_into(browser, "autoencoder-field", name, value)
    browser.wait_for_contains_text("#autoencoder-architecture-summary", "latent 8", timeout=10)
    choose_start(browser, f"#{model['id']} autoencoder_train · beamtime · image size 32×32")

    # another depth than the model's: said under the field, nothing queued
    click(browser, browser.find_element("#autoencoder-train"))
    wait_for(lambda: "this run asks depth 3" in form_message(browser, "init_model"), 15,
             "the refusal is not under the start-from field")
    assert "use the same depth or train from scratch" in form_message(browser, "init_model")
    assert [job["id"] for job in call_api(app, "/api/v1/jobs")["jobs"]] == [model["id"]]

    # the model's own depth: the run starts from its weights
    type_into(browser, "autoencoder-field", "depth", 2)
    click(browser, browser.find_element("#autoencoder-train"))
    wait_until_queued(browser, "#autoencoder-feedback", ("running", "succeeded"))
    [tuned, _model] = call_api(app, "/api/v1/jobs")["jobs"]
    tuned = finished_job(app, tuned["id"])
    assert tuned["status"] == "succeeded", tuned["error"]
    assert tuned["params"]["init_model"] == model["id"]
    assert tuned["result"]["fine_tuning"]["pretrained_lr_scale"] == 0.1
    assert form_message(browser, "init_model") == ""
