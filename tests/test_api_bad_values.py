"""Values no database takes the same way (NUL, NaN, ids past the integer columns) are refused
with a 4xx naming the field, on SQLite and PostgreSQL alike, and nothing is stored."""
from __future__ import annotations

import pytest

from tests.api_client import (api, assert_error, dataset, folder, item_ids,  # noqa: F401
                              labels, server, settings)

TOO_LARGE = 2**31  # one past PostgreSQL's INTEGER
HUGE = 2**63  # past SQLite's INTEGER too


@pytest.mark.parametrize("number", [TOO_LARGE, HUGE])
def test_ids_past_the_integer_columns_are_unknown(api, dataset, labels, number):
    item = next(iter(item_ids(api, dataset["id"]).values()))
    assert_error(api.get(f"/datasets/{number}"), 422, "dataset_id")
    assert_error(api.get(f"/datasets/{dataset['id']}/items?offset={number}"), 422, "offset")
    assert_error(api.get(f"/jobs?dataset_id={number}"), 422, "dataset_id")
    assert_error(api.post(f"/events/{number}/undo", {}), 422, "event_id")
    event = {"tagger": "ann", "method": "manual",
             "tags": [{"item_id": item, "label_id": number}]}
    assert_error(api.post(f"/datasets/{dataset['id']}/events", event), 422, "tags.0.label_id")
    job = {"kind": "autoencoder_infer", "dataset_id": dataset["id"],
           "params": {"model_job_id": number}}
    assert_error(api.post("/jobs", job), 400, "params.model_job_id", "2147483647")
    thumb = api.client.get(f"/thumbs/{number}.png")
    assert thumb.status_code == 404 and thumb.is_json
    assert api.client.get(f"/jobs/{number}/files/a.png").status_code == 404
    assert api.get(f"/datasets/{dataset['id']}/events").json["events"] == []


def test_nul_characters_are_refused_by_field(api, dataset, labels):
    assert_error(api.post("/datasets", {"name": "x", "source": {
        "kind": "directory", "path": "/tmp/a\x00b"}}), 422, "source.path", "NUL")
    assert_error(api.post(f"/datasets/{dataset['id']}/labels", {"name": "ri\x00ng"}),
                 422, "name", "NUL")
    item = next(iter(item_ids(api, dataset["id"]).values()))
    event = {"tagger": "a\x00n", "method": "manual",
             "tags": [{"item_id": item, "label_id": labels["ring"]}]}
    assert_error(api.post(f"/datasets/{dataset['id']}/events", event), 422, "tagger", "NUL")
    assert_error(api.get("/datasets?x=%00"), 422, "x", "NUL")
    csv = "path,label\nimg_00.png,ri\x00ng\n"
    assert_error(api.post(f"/datasets/{dataset['id']}/import", data=csv,
                          content_type="text/csv"), 422, "body", "NUL")
    names = [label["name"] for label in api.get(f"/datasets/{dataset['id']}/labels").json["labels"]]
    assert sorted(names) == ["peak", "ring"]
    assert api.get(f"/datasets/{dataset['id']}/events").json["events"] == []


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(api, dataset, constant):
    body = ('{"kind": "autoencoder_train", "dataset_id": %d, '
            '"params": {"learning_rate": %s}}' % (dataset["id"], constant))
    assert_error(api.post("/jobs", data=body, content_type="application/json"), 422, "body",
                 constant, "finite number")
    assert api.get("/jobs").json["jobs"] == []


def test_a_non_finite_number_in_params_is_refused_by_the_job_check():
    from ml.params import Param, params_checker
    from errors import DomainError

    check = params_checker({"learning_rate": Param(float, 1e-3, 0.0, 1.0)})
    with pytest.raises(DomainError, match="params.learning_rate must be a finite number"):
        check({"learning_rate": float("nan")})
