"""The retrain loop through the REST API of the real server on SQLite and PostgreSQL: the
setting (off by default, a checked range), a label event that makes a training due, and
"retrain now" with its refusals."""
from __future__ import annotations

import pytest

from app import create_server
from settings import Settings
from tests.api_client import Api, assert_error
from tests.databases import make_dataset

EVERY = 10


@pytest.fixture
def lab(tmp_path, database_url):
    """40 items with the classes ring and peak, none labeled yet."""
    settings = Settings(home=tmp_path / "home", database_url=database_url,
                        data_roots=(tmp_path,), cache_url="null://", tagger="tester")
    server = create_server(settings)
    factory = server.extensions["beamlabel"].session_factory
    dataset_id, ids, labels = make_dataset(factory, 40, ("ring", "peak"))
    yield Api(server), dataset_id, ids, labels
    server.extensions["beamlabel"].engine.dispose()


def _label(api: Api, dataset_id: int, tags: list[tuple[int, int]]) -> None:
    response = api.post(f"/datasets/{dataset_id}/events", json={
        "tagger": "anna", "method": "manual",
        "tags": [{"item_id": item, "label_id": label} for item, label in tags]})
    assert response.status_code == 201, response.json


def _put(api: Api, dataset_id: int, body):
    return api.call("PUT", f"/datasets/{dataset_id}/retrain-loop", json=body)


def test_the_loop_is_off_until_set_and_a_label_event_makes_it_train(lab):
    api, dataset_id, ids, labels = lab
    answer = api.get(f"/datasets/{dataset_id}/retrain-loop")
    assert answer.status_code == 200, answer.json
    assert answer.json["enabled"] is False and answer.json["every_labels"] == 200
    assert answer.json["running_job_id"] is None and answer.json["source_job_id"] is None

    answer = _put(api, dataset_id, {"enabled": True, "every_labels": EVERY})
    assert answer.status_code == 200, answer.json
    assert answer.json["enabled"] is True and answer.json["labels_to_next"] == EVERY
    _label(api, dataset_id, [(ids[i], labels["ring" if i % 2 else "peak"])
                             for i in range(EVERY - 1)])
    loop = api.get(f"/datasets/{dataset_id}/retrain-loop").json
    assert loop["running_job_id"] is None and loop["labels_to_next"] == 1

    _label(api, dataset_id, [(ids[EVERY], labels["ring"])])
    loop = api.get(f"/datasets/{dataset_id}/retrain-loop").json
    assert loop["running_kind"] == "classifier_train" and loop["running_status"] == "queued"
    job = api.get(f"/jobs/{loop['running_job_id']}").json
    assert job["owner"] == "anna" and job["params"]["event_id"] == 0
    assert_error(api.post(f"/datasets/{dataset_id}/retrain-loop/run"), 409, "retrain_loop",
                 "is queued")


@pytest.mark.parametrize("body, field", [
    ({"enabled": True, "every_labels": 5}, "every_labels"),
    ({"enabled": True, "every_labels": 1_000_000}, "every_labels"),
    ({"enabled": True, "every_labels": "200"}, "every_labels"),
    ({"enabled": "yes"}, "enabled"),
    ({"every_labels": 200}, "enabled"),
    ({"enabled": True, "every": 200}, "every"),
])
def test_a_bad_setting_is_refused_naming_the_field(lab, body, field):
    api, dataset_id, _ids, _labels = lab
    assert_error(_put(api, dataset_id, body), 422, field)
    assert api.get(f"/datasets/{dataset_id}/retrain-loop").json["enabled"] is False


def test_retrain_now_says_what_is_missing_and_unknown_data_sets_are_404(lab):
    api, dataset_id, ids, labels = lab
    _label(api, dataset_id, [(ids[0], labels["ring"])])
    assert_error(api.post(f"/datasets/{dataset_id}/retrain-loop/run"), 400, "labels",
                 "peak has no labeled images")
    _label(api, dataset_id, [(ids[1], labels["peak"])])
    answer = api.post(f"/datasets/{dataset_id}/retrain-loop/run")
    assert answer.status_code == 202, answer.json
    assert answer.json["running_kind"] == "classifier_train"
    assert answer.json["enabled"] is False  # a retraining asked for, the loop still off
    assert_error(api.get("/datasets/999/retrain-loop"), 404, "dataset_id")
    assert_error(_put(api, 999, {"enabled": True}), 404, "dataset_id")
    assert_error(api.post("/datasets/999/retrain-loop/run"), 404, "dataset_id")
