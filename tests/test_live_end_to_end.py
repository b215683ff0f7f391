"""A live data set end to end, in the app as `beamlabel` starts it (web server and its local
Celery worker): a file dropped into the folder is registered, run through the attached
feature job on the worker, and ranked by similarity like the items the job started with."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dash.testing.wait import until

from data.demo import generate_demo
from tests.browser import browser_settings, call_api, demo_in_app, launched_app  # noqa: F401

JOB_TIMEOUT_S = 180


def wait_for_job(app: str, job_id: int) -> dict:
    until(lambda: call_api(app, f"/api/v1/jobs/{job_id}")["status"] in
          ("succeeded", "failed", "cancelled"), timeout=JOB_TIMEOUT_S)
    job = call_api(app, f"/api/v1/jobs/{job_id}")
    assert job["status"] == "succeeded", job
    return job


def test_an_arrival_is_run_through_the_attached_model_and_ranked(browser_settings,  # noqa: F811
                                                                   tmp_path: Path):
    with launched_app(browser_settings, tmp_path, with_worker=True) as app:
        folder = tmp_path / "beamtime"
        dataset_id, truth, _ = demo_in_app(app, folder, n_images=12, size=64, seed=5,
                                           classes=("rings", "peaks"))
        features = call_api(app, "/api/v1/jobs", {"kind": "scattering_features",
                                                  "dataset_id": dataset_id, "params": {}})
        wait_for_job(app, features["id"])
        call_api(app, f"/api/v1/datasets/{dataset_id}/live-features",
                 {"feature_job_ids": [features["id"]]}, method="PUT")
        call_api(app, f"/api/v1/datasets/{dataset_id}", {"live": True}, method="PATCH")

        later = generate_demo(tmp_path / "later", n_images=1, size=64, seed=77,
                              classes=("rings",))
        partial = folder / ".arriving.tif"  # as detector software writes: then renamed
        shutil.copy(tmp_path / "later" / later[0][0], partial)
        partial.rename(folder / "arrived.tif")

        def arrival() -> dict | None:
            items = call_api(app, f"/api/v1/datasets/{dataset_id}/items?limit=100")["items"]
            return next((item for item in items if item["uri"] == "arrived.tif"), None)

        until(lambda: arrival() is not None, timeout=JOB_TIMEOUT_S)
        new_id = arrival()["id"]

        def live_jobs() -> list[dict]:
            return call_api(app, "/api/v1/jobs?kind=live_features")["jobs"]

        until(lambda: live_jobs(), timeout=JOB_TIMEOUT_S)
        job = wait_for_job(app, live_jobs()[0]["id"])
        assert job["params"] == {"feature_job_id": features["id"], "item_ids": [new_id]}
        ranked = call_api(app, f"/api/v1/datasets/{dataset_id}/similar",
                          {"feature_job_id": features["id"], "query_item_ids": [new_id],
                           "match": "any", "limit": 20})
        # The new item has a vector: it is ranked against every item (itself first), and the
        # others find it too.
        assert len(ranked["items"]) == len(truth) + 1
        assert ranked["items"][0]["item_id"] == new_id
        assert ranked["items"][0]["distance"] == pytest.approx(0.0, abs=1e-5)  # 16-bit codes
        some_item = ranked["items"][1]["item_id"]
        back = call_api(app, f"/api/v1/datasets/{dataset_id}/similar",
                        {"feature_job_id": features["id"], "query_item_ids": [some_item],
                         "match": "any", "limit": 20})
        assert new_id in [row["item_id"] for row in back["items"]]
