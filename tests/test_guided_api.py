"""The guided-labeling REST routes through the real server, on SQLite and PostgreSQL."""
from __future__ import annotations

import numpy as np
import pytest

from app import create_server
from db import guided
from settings import Settings
from tests.api_client import Api, assert_error
from tests.databases import make_dataset
from tests.feature_jobs import make_feature_job, make_model_job

P_RING = [0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.92, 0.75, 0.3, 0.1]


@pytest.fixture
def lab(tmp_path, database_url):
    """Ten items whose vectors point at 0°, 10°, ..., 90°; a classifier's p(ring) per item;
    items 0..3 labeled by hand (ring, ring, peak, ring)."""
    settings = Settings(home=tmp_path / "home", database_url=database_url,
                        data_roots=(tmp_path,), cache_url="null://", tagger="tester")
    server = create_server(settings)
    factory = server.extensions["beamlabel"].session_factory
    dataset_id, ids, labels = make_dataset(factory, 10, ("ring", "peak"))
    angles = np.radians(10 * np.arange(10))
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    p_ring = np.array(P_RING)
    jobs = {"latent": make_feature_job(factory, dataset_id, tmp_path, ids, vectors),
            "classifier": make_feature_job(factory, dataset_id, tmp_path, ids, vectors,
                                           np.stack([p_ring, 1 - p_ring], axis=1),
                                           [labels["ring"], labels["peak"]])}
    api = Api(server)
    ring, peak = labels["ring"], labels["peak"]
    response = api.post(f"/datasets/{dataset_id}/events", json={
        "tagger": "anna", "method": "manual", "tags": [
            {"item_id": ids[0], "label_id": ring}, {"item_id": ids[1], "label_id": ring},
            {"item_id": ids[2], "label_id": peak}, {"item_id": ids[3], "label_id": ring}]})
    assert response.status_code == 201, response.json
    yield api, dataset_id, ids, labels, jobs
    server.extensions["beamlabel"].engine.dispose()


def test_similar_items_with_distances(lab):
    api, dataset_id, ids, _, jobs = lab
    url = f"/datasets/{dataset_id}/similar"
    answer = api.post(url, json={"feature_job_id": jobs["latent"], "query_item_ids": [ids[1]],
                                 "limit": 3})
    assert answer.status_code == 200, answer.json
    items = answer.json["items"]
    assert [i["item_id"] for i in items] == [ids[4], ids[5], ids[6]]  # 0..3 are labeled
    # 16-bit codes in the index (ml.cosine_codes): cosines within 1e-5 of the angles'
    assert items[0]["distance"] == pytest.approx(1 - np.cos(np.radians(30)), abs=1e-5)
    assert items[0]["uri"] == "img_04.tif" and items[0]["label_id"] is None
    everything = api.post(url, json={"feature_job_id": jobs["latent"], "limit": 2,
                                     "query_item_ids": [ids[0]], "unlabeled_only": False})
    assert [i["item_id"] for i in everything.json["items"]] == [ids[0], ids[1]]

    assert_error(api.post(url, json={"feature_job_id": 999, "query_item_ids": [ids[0]]}),
                 400, "feature_job_id", "autoencoder_infer")
    assert_error(api.post(url, json={"feature_job_id": jobs["latent"], "query_item_ids": []}),
                 422, "query_item_ids")
    assert_error(api.post(url, json={"feature_job_id": jobs["latent"],
                                     "query_item_ids": [10**9]}), 400, "query_item_ids")


def test_similar_items_nearest_to_any_query_item_or_to_their_mean(lab):
    api, dataset_id, ids, _, jobs = lab
    url = f"/datasets/{dataset_id}/similar"
    request = {"feature_job_id": jobs["latent"], "query_item_ids": [ids[0], ids[9]],
               "unlabeled_only": False, "limit": 4}  # 0° and 90°: their mean is at 45°
    nearest_any = api.post(url, json={**request, "match": "any"}).json
    assert nearest_any["match"] == "any" and nearest_any["match_from_labels"] is False
    # pairs equally near: the query items, then 10° from one of them
    pairs = [{i["item_id"] for i in nearest_any["items"][k:k + 2]} for k in (0, 2)]
    assert pairs == [{ids[0], ids[9]}, {ids[1], ids[8]}]
    nearest_mean = api.post(url, json={**request, "match": "mean"}).json
    # without match, the labels choose: no class has four labels yet, so the mean
    assert api.post(url, json=request).json == {**nearest_mean, "match_from_labels": True}
    assert api.post(url, json={**request, "match": None}).json["match"] == "mean"
    pairs = [{i["item_id"] for i in nearest_mean["items"][k:k + 2]} for k in (0, 2)]
    assert pairs == [{ids[4], ids[5]}, {ids[3], ids[6]}]
    assert nearest_mean["items"][0]["distance"] == pytest.approx(1 - np.cos(np.radians(5)),
                                                                 abs=1e-5)
    assert_error(api.post(url, json={**request, "match": "median"}), 422, "match")
    assert_error(api.post(f"/datasets/{dataset_id}/similarity-labels", json={
        "feature_job_id": jobs["latent"], "query_item_ids": [ids[0]], "label_id": 1,
        "scope": "top_k", "top_k": 2, "match": 3}), 422, "match")


def test_without_match_the_rule_the_labels_favour_ranks_and_is_recorded(lab):
    api, dataset_id, ids, labels, jobs = lab
    ring, peak = labels["ring"], labels["peak"]
    # ring at both ends (0°, 10°, 30°, 80°, 90°), peak between (20°, 40°, 50°): half of the
    # ring labels find the other half by the nearest of them, their mean points at peaks
    tags = [{"item_id": ids[i], "label_id": ring} for i in (8, 9)] + \
        [{"item_id": ids[i], "label_id": peak} for i in (4, 5)]
    added = api.post(f"/datasets/{dataset_id}/events",
                     json={"tagger": "anna", "method": "manual", "tags": tags})
    assert added.status_code == 201, added.json
    request = {"feature_job_id": jobs["latent"], "query_item_ids": [ids[0], ids[9]],
               "unlabeled_only": False, "limit": 4}
    chosen = api.post(f"/datasets/{dataset_id}/similar", json=request).json
    assert chosen["match"] == "any" and chosen["match_from_labels"] is True
    assert chosen["items"] == api.post(f"/datasets/{dataset_id}/similar",
                                       json={**request, "match": "any"}).json["items"]
    applied = api.post(f"/datasets/{dataset_id}/similarity-labels", json={
        "feature_job_id": jobs["latent"], "query_item_ids": [ids[0], ids[9]],
        "label_id": ring, "scope": "top_k", "top_k": 2, "dry_run": False}).json
    event = api.get(f"/datasets/{dataset_id}/events").json["events"][0]
    assert event["id"] == applied["event_id"]
    assert event["params"]["match"] == "any" and event["params"]["match_from_labels"] is True
    assert applied["count"] == 2  # the two unlabeled items, 60° and 70°


def test_similarity_labels_preview_then_one_event(lab):
    api, dataset_id, ids, labels, jobs = lab
    url = f"/datasets/{dataset_id}/similarity-labels"
    request = {"feature_job_id": jobs["latent"], "query_item_ids": [ids[0]],
               "label_id": labels["ring"], "scope": "cutoff",
               "max_distance": float(1 - np.cos(np.radians(45))), "unlabeled_only": False,
               "dry_run": True}
    preview = api.post(url, json=request).json
    assert preview == {"count": 1, "chosen": 5, "already_labeled": 4, "agreeing": 3,
                       "agreement": 0.75, "event_id": None}
    applied = api.post(url, json={**request, "dry_run": False}).json
    events = api.get(f"/datasets/{dataset_id}/events").json["events"]
    assert events[0]["id"] == applied["event_id"] and events[0]["method"] == "similarity"
    assert events[0]["params"]["query_item_ids"] == [ids[0]]
    assert events[0]["params"]["cutoff"] == pytest.approx(request["max_distance"])
    assert events[0]["params"]["feature_job_id"] == jobs["latent"]
    assert events[0]["params"]["match"] == "mean"  # chosen: too few labels to tell
    assert events[0]["params"]["match_from_labels"] is True
    assert_error(api.post(url, json={**request, "scope": "nearby"}), 422, "scope")


def test_probability_labels_preview_is_exact_and_apply_records_confidences(lab):
    api, dataset_id, ids, labels, jobs = lab
    url = f"/datasets/{dataset_id}/probability-labels"
    request = {"inference_job_id": jobs["classifier"], "label_id": labels["ring"],
               "threshold": 0.8, "dry_run": True}
    preview = api.post(url, json=request).json
    # at 0.8: items 0, 1, 2, 3, 6; 0..3 are labeled by hand (2 is a 'peak'); a hand-made job
    # names no training, so any hand label may be one it learnt from: no precision
    assert preview == {"count": 1, "above": 5, "disagreeing": 1, "estimated_precision": None,
                       "held_out_above": 0, "min_held_out": guided.MIN_HELD_OUT,
                       "recall": None, "event_id": None}
    applied = api.post(url, json={**request, "dry_run": False, "tagger": "model-bot"}).json
    assert applied["event_id"] is not None and applied["count"] == 1
    event = api.get(f"/datasets/{dataset_id}/events").json["events"][0]
    assert (event["method"], event["tagger"], event["n_tags"]) == ("probability", "model-bot", 1)
    assert event["params"]["inference_job_id"] == jobs["classifier"]
    assert event["params"]["threshold"] == 0.8
    current = api.get(f"/datasets/{dataset_id}/current-labels").json["labels"]
    assert {c["item_id"]: c["confidence"] for c in current}[ids[6]] == pytest.approx(0.92)

    overwrite = api.post(url, json={**request, "overwrite_manual": True}).json
    assert overwrite["count"] == 1  # item 2, the hand-labeled 'peak'
    assert_error(api.post(url, json={**request, "threshold": 1.2}), 422, "threshold")
    assert_error(api.post(url, json={**request, "inference_job_id": jobs["latent"]}), 400,
                 "inference_job_id", "classifier_infer")


def test_probability_preview_states_the_precision_on_validation_labels_only(
        lab, tmp_path, monkeypatch):
    api, dataset_id, ids, labels, jobs = lab
    trained_on = api.get(f"/datasets/{dataset_id}/events").json["events"][0]["id"]
    factory = api.client.application.extensions["beamlabel"].session_factory
    make_model_job(factory, jobs["classifier"], tmp_path, trained_on, ids[:4])
    url = f"/datasets/{dataset_id}/probability-labels"
    request = {"inference_job_id": jobs["classifier"], "label_id": labels["ring"],
               "threshold": 0.8, "dry_run": True}
    # four held-out labels at or above 0.8 (the validation items 0..3), three of them rings
    assert api.post(url, json=request).json["estimated_precision"] is None
    monkeypatch.setattr(guided, "MIN_HELD_OUT", 4)
    preview = api.post(url, json=request).json
    assert (preview["estimated_precision"], preview["held_out_above"],
            preview["min_held_out"]) == (0.75, 4, 4)


def test_uncertain_queue_and_efficiency(lab):
    api, dataset_id, ids, _, jobs = lab
    answer = api.get(f"/datasets/{dataset_id}/uncertain?limit=3&method=entropy")
    assert answer.status_code == 200, answer.json
    assert answer.json["inference_job_id"] == jobs["classifier"]
    # unlabeled p(ring): 4 .7, 5 .6, 6 .92, 7 .75, 8 .3, 9 .1 -> nearest to 0.5 first
    assert [i["item_id"] for i in answer.json["items"]] == [ids[5], ids[4], ids[8]]
    assert_error(api.get(f"/datasets/{dataset_id}/uncertain?method=variance"), 422, "method")

    figures = api.get(f"/datasets/{dataset_id}/labeling-efficiency").json
    assert figures["shares"] == {"manual": 4}
    assert figures["overall"][0]["method"] == "manual" and figures["overall"][0]["labels"] == 4
    assert figures["auto_changed_by_hand"] == 0


def test_openapi_lists_the_guided_routes(lab):
    paths = lab[0].get("/openapi.json").json["paths"]
    for path, method in (("similar", "post"), ("similarity-labels", "post"),
                         ("probability-labels", "post"), ("uncertain", "get"),
                         ("labeling-efficiency", "get")):
        operation = paths[f"/api/v1/datasets/{{dataset_id}}/{path}"][method]
        assert operation["tags"] == ["guided-labeling"] and operation["summary"]
