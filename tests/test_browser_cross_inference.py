"""The classifier page applies a model of another data set, in headless Chromium with the
launcher's real Celery worker: the model is offered from the library, the page says how its
classes map by name, and with the box ticked the missing class is created and every column
maps."""
from tests.browser import (call_api, click, demo_in_app, finished_job, text_of,
                           wait_for, wait_until_queued)

CLASSIFIER = {"model": "resnet18", "image_size": 16, "epochs": 1, "batch_size": 8,
              "val_share": 0.3}


def test_a_classifier_of_another_data_set_classifies_this_one(worker_browser,
                                                              running_app_with_worker, tmp_path):
    app, browser = running_app_with_worker, worker_browser
    source, truth, labels = demo_in_app(app, tmp_path / "local", 12, 32, 3,
                                        ("rings", "peaks", "empty"))
    items = call_api(app, f"/api/v1/datasets/{source}/items?limit=100")["items"]
    call_api(app, f"/api/v1/datasets/{source}/events", {
        "tagger": "tester", "method": "manual",
        "tags": [{"item_id": item["id"], "label_id": labels[label]}
                 for item in items for path, label in truth.items()
                 if item["uri"].endswith(path)]})
    model = call_api(app, "/api/v1/jobs", {"kind": "classifier_train", "dataset_id": source,
                                           "params": CLASSIFIER})
    assert finished_job(app, model["id"])["status"] == "succeeded"
    target, _, target_labels = demo_in_app(app, tmp_path / "remote", 6, 32, 4,
                                           ("peaks", "rings", "streaks"))

    browser.driver.get(f"{app}/classifier?dataset={target}")
    click(browser, browser.wait_for_element("#classifier-apply-model", timeout=30))

    def offered():
        return [option for option in browser.find_elements(".dash-dropdown-option")
                if option.text.startswith(f"#{model['id']} classifier_train · local")]
    wait_for(offered, 15, "the model of the other data set is not offered")
    click(browser, offered()[0])
    wait_for(lambda: "This data set has no empty" in text_of(browser, "#classifier-apply-note"),
             15, "the page does not say which class the data set lacks")
    assert "map by name: rings, peaks" in text_of(browser, "#classifier-apply-note")
    click(browser, browser.find_element("#classifier-apply-create"))
    wait_for(lambda: "will gain empty" in text_of(browser, "#classifier-apply-note"), 10,
             "the page does not say the class will be created")
    click(browser, browser.find_element("#classifier-apply"))
    wait_until_queued(browser, "#classifier-feedback", ("running", "succeeded"))
    inference = next(job for job in call_api(app, "/api/v1/jobs")["jobs"]
                     if job["kind"] == "classifier_infer")
    assert inference["params"] == {"model_job_id": model["id"], "batch_size": 128,
                                   "create_missing_classes": True}
    classes = {label["name"]: label["id"] for label in
               call_api(app, f"/api/v1/datasets/{target}/labels")["labels"]}
    assert set(classes) == {"peaks", "rings", "streaks", "empty"}
    result = finished_job(app, inference["id"])["result"]
    assert result["label_ids"] == [target_labels["rings"], target_labels["peaks"],
                                   classes["empty"]]
