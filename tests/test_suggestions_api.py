"""Suggestions, accepting a page of them, and the first items to label, through the REST
API of the real server on SQLite and PostgreSQL."""
from __future__ import annotations

import numpy as np
import pytest

from app import create_server
from settings import Settings
from tests.api_client import Api, assert_error
from tests.databases import make_dataset
from tests.feature_jobs import make_feature_job

N_ITEMS = 40


@pytest.fixture
def lab(tmp_path, database_url):
    """40 items in two groups: even items point near 0°, odd items near 90°; three of each
    group labeled by hand (ring: even, peak: odd)."""
    settings = Settings(home=tmp_path / "home", database_url=database_url,
                        data_roots=(tmp_path,), cache_url="null://", tagger="tester")
    server = create_server(settings)
    factory = server.extensions["beamlabel"].session_factory
    dataset_id, ids, labels = make_dataset(factory, N_ITEMS, ("ring", "peak"))
    rng = np.random.default_rng(0)
    angles = np.radians(np.where(np.arange(N_ITEMS) % 2, 90.0, 0.0) + rng.normal(0, 8, N_ITEMS))
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    job = make_feature_job(factory, dataset_id, tmp_path, ids, vectors)
    api = Api(server)
    ring, peak = labels["ring"], labels["peak"]
    hand = [(ids[i], ring) for i in (0, 2, 4)] + [(ids[i], peak) for i in (1, 3, 5)]
    response = api.post(f"/datasets/{dataset_id}/events", json={
        "tagger": "anna", "method": "manual",
        "tags": [{"item_id": item, "label_id": label} for item, label in hand]})
    assert response.status_code == 201, response.json
    yield api, dataset_id, ids, labels, job
    server.extensions["beamlabel"].engine.dispose()


def test_a_page_of_suggestions_is_one_group_most_confident_first(lab):
    api, dataset_id, ids, labels, job = lab
    answer = api.get(f"/datasets/{dataset_id}/suggestions?feature_job_id={job}"
                     f"&label_id={labels['peak']}&limit=10")
    assert answer.status_code == 200, answer.json
    body = answer.json
    items = body["items"]
    assert len(items) == 10 and body["labels_used"] == 6
    assert {ids.index(i["item_id"]) % 2 for i in items} == {1}  # odd items: the peak group
    assert all(i["label_id"] == labels["peak"] for i in items)
    confidences = [i["confidence"] for i in items]
    assert confidences == sorted(confidences, reverse=True)
    assert body["suggested"] == {str(labels["ring"]): 17, str(labels["peak"]): 17}
    assert body["expected_precision"] is None  # 3 labels a class: too few to measure
    everything = api.get(f"/datasets/{dataset_id}/suggestions?feature_job_id={job}&limit=50")
    assert len(everything.json["items"]) == N_ITEMS - 6


def test_the_next_page_holds_both_groups_each_with_its_suggestion(lab):
    api, dataset_id, ids, labels, job = lab
    answer = api.get(f"/datasets/{dataset_id}/suggestions?feature_job_id={job}&limit=34")
    assert answer.status_code == 200, answer.json
    items = answer.json["items"]
    assert len(items) == 34 and {i["label_id"] for i in items} == set(labels.values())
    for item in items:  # each group suggested its own label
        group = "peak" if ids.index(item["item_id"]) % 2 else "ring"
        assert item["label_id"] == labels[group]
    runs = [items[0]["label_id"]] + [b["label_id"] for a, b in zip(items, items[1:])
                                     if a["label_id"] != b["label_id"]]
    assert len(runs) == 2  # grouped by class


def test_newest_first_lists_every_unlabeled_item_with_its_suggestion_once_it_has_a_row(
        lab, tmp_path):
    api, dataset_id, ids, labels, _ = lab
    # a job made before the last 4 items arrived: they have no feature row in it
    vectors = np.stack([np.where(np.arange(N_ITEMS - 4) % 2, 0.0, 1.0),
                        np.where(np.arange(N_ITEMS - 4) % 2, 1.0, 0.0)], axis=1)
    older = make_feature_job(api.server.extensions["beamlabel"].session_factory, dataset_id,
                             tmp_path / "older", ids[:-4], vectors)
    base = f"/datasets/{dataset_id}/suggestions?feature_job_id={older}&order=newest"
    answer = api.get(base + "&limit=10")
    assert answer.status_code == 200, answer.json
    items = answer.json["items"]
    assert [i["item_id"] for i in items] == ids[::-1][:10]  # none of them labeled
    assert all(i["label_id"] is None and i["confidence"] is None for i in items[:4])
    for item in items[4:]:
        group = "peak" if ids.index(item["item_id"]) % 2 else "ring"
        assert item["label_id"] == labels[group] and 0.5 < item["confidence"] <= 1
    rest = api.get(base + "&limit=1000&offset=10").json["items"]
    assert [i["item_id"] for i in items + rest] == [i for i in ids[::-1] if ids.index(i) > 5]
    assert_error(api.get(base + f"&label_id={labels['ring']}"), 400, "label_id", "leave label_id")
    assert_error(api.get(base.replace("newest", "oldest")), 422, "order")


def test_accepting_a_mixed_page_gives_each_item_its_label_in_one_event(lab):
    api, dataset_id, ids, labels, job = lab
    chosen = {ids[7]: labels["peak"], ids[8]: labels["ring"], ids[2]: labels["peak"]}
    url = f"/datasets/{dataset_id}/suggestion-labels"
    done = api.post(url, json={"feature_job_id": job, "tagger": "anna", "labels": [
        {"item_id": item, "label_id": label} for item, label in chosen.items()]})
    assert done.status_code == 200, done.json
    assert done.json["count"] == 2 and done.json["already_labeled"] == 1  # item 2: by hand
    assert done.json["agreeing"] == 0  # its hand label (ring) is kept
    current = {row["item_id"]: row["label_id"]
               for row in api.get(f"/datasets/{dataset_id}/current-labels").json["labels"]}
    assert current[ids[7]] == labels["peak"] and current[ids[8]] == labels["ring"]
    assert current[ids[2]] == labels["ring"]
    event = api.get(f"/datasets/{dataset_id}/events").json["events"][0]
    assert event["method"] == "suggestion" and event["n_tags"] == 2
    assert event["params"]["label_ids"] == sorted(set(chosen.values()))


def test_accepting_a_page_is_one_suggestion_event_that_keeps_hand_labels(lab):
    api, dataset_id, ids, labels, job = lab
    page = [ids[i] for i in (7, 9, 11, 3)]  # item 3 is labeled peak by hand already
    url = f"/datasets/{dataset_id}/suggestion-labels"
    preview = api.post(url, json={"feature_job_id": job, "label_id": labels["peak"],
                                  "item_ids": page, "dry_run": True})
    assert preview.status_code == 200, preview.json
    assert preview.json["count"] == 3 and preview.json["event_id"] is None
    assert preview.json["already_labeled"] == 1 and preview.json["agreeing"] == 1
    done = api.post(url, json={"feature_job_id": job, "label_id": labels["peak"],
                               "item_ids": page, "tagger": "anna"})
    assert done.status_code == 200 and done.json["event_id"] is not None, done.json
    events = api.get(f"/datasets/{dataset_id}/events").json["events"]
    assert events[0]["method"] == "suggestion" and events[0]["n_tags"] == 3
    assert events[0]["params"]["labels_used"] == 6
    current = api.get(f"/datasets/{dataset_id}/current-labels").json["labels"]
    tagged = {row["item_id"]: row for row in current if row["event_id"] == done.json["event_id"]}
    assert set(tagged) == {ids[7], ids[9], ids[11]}
    assert all(0.5 < row["confidence"] <= 1 for row in tagged.values())


def test_bad_suggestion_requests_name_the_field(lab):
    api, dataset_id, ids, labels, job = lab
    base = f"/datasets/{dataset_id}/suggestions?feature_job_id="
    assert_error(api.get(base + "999"), 400, "feature_job_id", "not a finished")
    assert_error(api.get(base + f"{job}&label_id=999"), 404, "label_id")
    url = f"/datasets/{dataset_id}/suggestion-labels"
    extra = api.post(f"/datasets/{dataset_id}/labels", json={"name": "empty"}).json["id"]
    assert_error(api.post(url, json={"feature_job_id": job, "label_id": extra,
                                     "item_ids": [ids[8]]}), 400, "label_id", "by hand first")
    assert_error(api.post(url, json={"feature_job_id": job, "label_id": labels["ring"],
                                     "item_ids": []}), 422, "body", "needs item_ids")
    pair = {"item_id": ids[8], "label_id": labels["ring"]}
    assert_error(api.post(url, json={"feature_job_id": job, "labels": [pair],
                                     "label_id": labels["ring"], "item_ids": [ids[9]]}),
                 422, "body", "either labels")
    assert_error(api.post(url, json={"feature_job_id": job}), 422, "body", "either labels")
    assert_error(api.post(url, json={"feature_job_id": job, "labels": [
        {"item_id": ids[8], "label_id": 999}]}), 404, "label_id")


def test_suggestions_need_two_labeled_classes(tmp_path, database_url):
    settings = Settings(home=tmp_path / "home", database_url=database_url,
                        data_roots=(tmp_path,), cache_url="null://", tagger="tester")
    server = create_server(settings)
    factory = server.extensions["beamlabel"].session_factory
    try:
        dataset_id, ids, labels = make_dataset(factory, 6, ("ring", "peak"))
        job = make_feature_job(factory, dataset_id, tmp_path, ids, np.eye(6))
        api = Api(server)
        api.post(f"/datasets/{dataset_id}/events", json={"tagger": "anna", "method": "manual",
                 "tags": [{"item_id": ids[0], "label_id": labels["ring"]}]})
        assert_error(api.get(f"/datasets/{dataset_id}/suggestions?feature_job_id={job}"),
                     400, "labels", "two classes")
    finally:
        server.extensions["beamlabel"].engine.dispose()


def test_first_items_cover_both_groups_and_skip_labeled_ones(lab):
    api, dataset_id, ids, _labels, job = lab
    answer = api.get(f"/datasets/{dataset_id}/first-items?feature_job_id={job}&limit=4")
    assert answer.status_code == 200, answer.json
    chosen = [ids.index(i["item_id"]) for i in answer.json["items"]]
    assert len(chosen) == 4 and min(chosen) >= 6
    assert {index % 2 for index in chosen} == {0, 1}
