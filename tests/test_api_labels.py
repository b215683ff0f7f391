"""Label classes, tagging events, undo and current labels through the REST API, on SQLite
and PostgreSQL."""
from __future__ import annotations

import numpy as np
from PIL import Image

from tests.api_client import assert_error, item_ids
from tests.api_client import api, dataset, folder, labels, server, settings  # noqa: F401 (fixtures)


# --- label classes ------------------------------------------------------------------------

def test_label_classes(api, dataset):
    url = f"/datasets/{dataset['id']}/labels"
    assert api.get(url).json == {"labels": []}
    ring = api.post(url, {"name": "ring"})
    assert ring.status_code == 201
    assert {k: ring.json[k] for k in ("name", "color", "hotkey", "position")} == \
        {"name": "ring", "color": "#E69F00", "hotkey": "1", "position": 1}
    peak = api.post(url, {"name": "peak", "color": "#123abc", "hotkey": "5"})
    assert peak.status_code == 201
    assert (peak.json["color"], peak.json["hotkey"], peak.json["position"]) == ("#123abc", "5", 2)

    assert_error(api.post(url, {"name": "ring"}), 409, "name", "ring")
    assert_error(api.post(url, {"name": "halo", "color": "red"}), 400, "color", "#RRGGBB")
    assert_error(api.post(url, {"name": "halo", "hotkey": "5"}), 409, "hotkey")
    assert_error(api.post(url, {"name": "halo", "hotkey": "x"}), 400, "hotkey")
    assert_error(api.post(url, {"name": "halo", "hotkey": 3}), 422, "hotkey", "string")
    assert_error(api.post(url, {"name": "   "}), 400, "name")
    assert_error(api.post(url, {"color": "#000000"}), 422, "name", "required")
    assert_error(api.post(url, {"name": "x" * 101}), 422, "name")
    assert_error(api.post(url, {"name": ["ring"]}), 422, "name")

    listed = api.get(url).json["labels"]
    assert [(label["id"], label["name"]) for label in listed] == \
        [(ring.json["id"], "ring"), (peak.json["id"], "peak")]


def test_edit_and_reorder_label_classes(api, dataset, labels):
    url = f"/datasets/{dataset['id']}/labels"
    ring, peak = labels["ring"], labels["peak"]
    edited = api.call("PATCH", f"{url}/{ring}", json={"name": "Ring", "color": "#000000",
                                                      "hotkey": "7"})
    assert edited.status_code == 200, edited.json
    assert edited.json == {"id": ring, "name": "Ring", "color": "#000000", "hotkey": "7",
                           "position": 1}
    cleared = api.call("PATCH", f"{url}/{ring}", json={"hotkey": ""})
    assert (cleared.json["hotkey"], cleared.json["name"]) == (None, "Ring")

    def patch(label_id, body):
        return api.call("PATCH", f"{url}/{label_id}", json=body)

    assert_error(patch(ring, {"name": "peak"}), 409, "name", "peak")
    assert_error(patch(ring, {"color": "red"}), 400, "color", "#RRGGBB")
    assert_error(patch(peak, {"hotkey": "x"}), 400, "hotkey")
    assert_error(patch(ring, {}), 422, "body", "at least one")
    assert_error(patch(ring, {"name": 5}), 422, "name")
    assert_error(patch(ring, {"name": ""}), 422, "name")
    assert_error(patch(ring, {"colour": "#000000"}), 422, "colour", "remove it")
    assert_error(patch(99999, {"name": "x"}), 404, "label_id", "99999")
    assert_error(api.call("PATCH", f"/datasets/999/labels/{ring}", json={"name": "x"}),
                 404, "dataset_id")
    assert_error(api.call("PATCH", f"{url}/{ring}", data="name=x", content_type="text/plain"),
                 415, "body")

    order = api.call("PUT", f"{url}/order", json={"label_ids": [peak, ring]})
    assert order.status_code == 200, order.json
    assert [(label["name"], label["position"]) for label in order.json["labels"]] == \
        [("peak", 1), ("Ring", 2)]
    assert [label["id"] for label in api.get(url).json["labels"]] == [peak, ring]
    for body, status, field, word in [
            ({"label_ids": [peak]}, 400, "label_ids", "leaves out"),
            ({"label_ids": [peak, ring, ring]}, 400, "label_ids", "twice"),
            ({"label_ids": [peak, ring, 99999]}, 400, "label_ids", "99999"),
            ({"label_ids": ["a"]}, 422, "label_ids.0", "integer"),
            ({}, 422, "label_ids", "required")]:
        assert_error(api.call("PUT", f"{url}/order", json=body), status, field, word)
    assert_error(api.get(f"{url}/{ring}"), 405, None, "PATCH or DELETE")


def test_delete_label_classes_and_undo_a_deletion(api, dataset, labels):
    dataset_id = dataset["id"]
    url = f"/datasets/{dataset_id}/labels"
    ring, peak = labels["ring"], labels["peak"]
    unused = api.post(url, {"name": "halo"}).json
    deleted = api.call("DELETE", f"{url}/{unused['id']}")
    assert deleted.status_code == 200, deleted.json
    assert deleted.json == {"label_id": unused["id"], "event_id": None, "unlabeled": 0}
    assert [label["id"] for label in api.get(url).json["labels"]] == [ring, peak]
    assert_error(api.post(url, {"name": "halo"}), 409, "name", "deleted")

    ids = item_ids(api, dataset_id)
    api.post(f"/datasets/{dataset_id}/events", {"tagger": "ana", "method": "manual", "tags": [
        {"item_id": ids["img_00.png"], "label_id": ring},
        {"item_id": ids["img_01.png"], "label_id": ring},
        {"item_id": ids["img_02.png"], "label_id": peak}]})
    current_url = f"/datasets/{dataset_id}/current-labels"
    before = api.get(current_url).json

    assert_error(api.call("DELETE", f"{url}/{ring}"), 409, "confirm", "2 items")
    assert_error(api.call("DELETE", f"{url}/{ring}?confirm=maybe"), 422, "confirm")
    assert_error(api.call("DELETE", f"{url}/99999?confirm=true"), 404, "label_id")
    assert_error(api.call("DELETE", f"/datasets/999/labels/{ring}"), 404, "dataset_id")
    assert api.get(current_url).json == before

    confirmed = api.call("DELETE", f"{url}/{ring}?confirm=true&tagger=ben")
    assert confirmed.status_code == 200, confirmed.json
    assert (confirmed.json["unlabeled"], confirmed.json["label_id"]) == (2, ring)
    assert [label["id"] for label in api.get(url).json["labels"]] == [peak]
    assert [c["uri"] for c in api.get(current_url).json["labels"]] == ["img_02.png"]
    deletion = api.get(f"/datasets/{dataset_id}/events").json["events"][0]
    assert (deletion["id"], deletion["tagger"], deletion["method"], deletion["params"]) == \
        (confirmed.json["event_id"], "ben", "manual",
         {"deleted_label_id": ring, "label_name": "ring"})
    assert_error(api.call("DELETE", f"{url}/{ring}?confirm=true"), 409, "label_id", "deleted")

    undo = api.post(f"/events/{deletion['id']}/undo", {"tagger": "ben"})
    assert undo.status_code == 201, undo.json
    assert [label["id"] for label in api.get(url).json["labels"]] == [ring, peak]
    restored = api.get(current_url).json
    assert restored["counts"] == before["counts"] == {"ring": 2, "peak": 1}
    assert [(c["uri"], c["label"]) for c in restored["labels"]] == \
        [(c["uri"], c["label"]) for c in before["labels"]]


# --- tagging events -----------------------------------------------------------------------

def test_event_is_recorded_and_listed(api, dataset, labels):
    dataset_id = dataset["id"]
    ids = item_ids(api, dataset_id)
    response = api.post(f"/datasets/{dataset_id}/events", {
        "tagger": "ana", "method": "similarity", "params": {"query": [ids["img_00.png"]],
                                                            "cutoff": 0.4},
        "tags": [{"item_id": ids["img_00.png"], "label_id": labels["ring"], "confidence": 0.9},
                 {"item_id": ids["img_01.png"], "label_id": labels["ring"]}]})
    assert response.status_code == 201, response.json
    event = response.json
    assert (event["tagger"], event["method"], event["n_tags"], event["undoes_event_id"]) == \
        ("ana", "similarity", 2, None)
    assert event["params"] == {"query": [ids["img_00.png"]], "cutoff": 0.4}
    assert event["dataset_id"] == dataset_id and event["created_at"]

    second = api.post(f"/datasets/{dataset_id}/events", {
        "tagger": "ben", "method": "manual",
        "tags": [{"item_id": ids["img_01.png"], "label_id": None}]}).json
    listed = api.get(f"/datasets/{dataset_id}/events").json
    assert [e["id"] for e in listed["events"]] == [second["id"], event["id"]]
    assert listed["events"][1] == event
    assert listed["events"][0]["params"] == {}
    assert [e["id"] for e in
            api.get(f"/datasets/{dataset_id}/events?offset=1&limit=1").json["events"]] == \
        [event["id"]]
    assert_error(api.get(f"/datasets/{dataset_id}/events?limit=5000"), 422, "limit")
    assert api.get(f"/datasets/{dataset_id}").json["labeled_count"] == 1


def test_bad_events_are_refused_whole(api, dataset, labels):
    dataset_id = dataset["id"]
    ids = item_ids(api, dataset_id)
    url = f"/datasets/{dataset_id}/events"
    good_tag = {"item_id": ids["img_00.png"], "label_id": labels["ring"]}

    def event(*tags, **fields):
        return {"tagger": "ana", "method": "manual", "tags": list(tags), **fields}

    before_events = api.get(url).json["events"]
    cases = [
        (event(good_tag, {"item_id": ids["img_01.png"], "label_id": 99999}),
         400, "tags.label_id", "99999"),
        (event(good_tag, {"item_id": 99999, "label_id": labels["ring"]}),
         400, "tags.item_id", "99999"),
        (event(good_tag, {**good_tag, "label_id": labels["peak"]}), 400, "tags.item_id", "twice"),
        (event(), 400, "tags", None),
        ({"tagger": "ana", "method": "manual"}, 422, "tags", "required"),
        (event({"item_id": "abc", "label_id": labels["ring"]}), 422, "tags.0.item_id", "integer"),
        (event(good_tag, {"item_id": ids["img_01.png"], "label_id": str(labels["ring"])}),
         422, "tags.1.label_id", "integer"),
        (event({"item_id": ids["img_01.png"]}), 422, "tags.0.label_id", "required"),
        (event({**good_tag, "confidence": 1.5}), 422, "tags.0.confidence", "1"),
        (event({**good_tag, "confidence": "high"}), 422, "tags.0.confidence", None),
        (event({**good_tag, "colour": "red"}), 422, "tags.0.colour", None),
        (event(good_tag, method="undo"), 400, "method", "undo"),
        (event(good_tag, method="guess"), 400, "method", "manual"),
        (event(good_tag, tagger=""), 422, "tagger", None),
        (event(good_tag, tagger="   "), 400, "tagger", None),
        (event(good_tag, params=[1, 2]), 422, "params", None),
        (event(good_tag, tags={"item_id": 1}), 422, "tags", None),
        ([good_tag], 422, "body", "JSON object"),
    ]
    for payload, status, field, word in cases:
        assert_error(api.post(url, payload), status, field, *([word] if word else []))
    assert_error(api.post(url, data="{\"tagger\": \"ana\",", content_type="application/json"),
                 400, "body", "not valid JSON")

    # nothing of the refused events was written
    assert api.get(url).json["events"] == before_events
    current = api.get(f"/datasets/{dataset_id}/current-labels").json
    assert (current["labeled"], current["labels"]) == (0, [])
    assert api.get(f"/datasets/{dataset_id}").json["labeled_count"] == 0


def test_labels_of_another_dataset_are_refused(api, dataset, labels, tmp_path):
    other_folder = tmp_path / "other"
    other_folder.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(other_folder / "a.png")
    other = api.post("/datasets", {"name": "other", "source": {"kind": "directory",
                                                               "path": str(other_folder)}}).json
    other_item = item_ids(api, other["id"])["a.png"]
    ids = item_ids(api, dataset["id"])
    assert_error(api.post(f"/datasets/{other['id']}/events", {
        "tagger": "ana", "method": "manual",
        "tags": [{"item_id": other_item, "label_id": labels["ring"]}]}), 400, "tags.label_id")
    assert_error(api.post(f"/datasets/{dataset['id']}/events", {
        "tagger": "ana", "method": "manual",
        "tags": [{"item_id": other_item, "label_id": labels["ring"]},
                 {"item_id": ids["img_00.png"], "label_id": labels["ring"]}]}),
        400, "tags.item_id", str(other_item))
    assert api.get(f"/datasets/{dataset['id']}/current-labels").json["labeled"] == 0


# --- undo ---------------------------------------------------------------------------------

def test_undo(api, dataset, labels):
    dataset_id = dataset["id"]
    ids = item_ids(api, dataset_id)
    labeled = api.post(f"/datasets/{dataset_id}/events", {
        "tagger": "ana", "method": "manual",
        "tags": [{"item_id": ids["img_00.png"], "label_id": labels["ring"]},
                 {"item_id": ids["img_01.png"], "label_id": labels["peak"]}]}).json

    undo = api.post(f"/events/{labeled['id']}/undo", {"tagger": "ben"})
    assert undo.status_code == 201, undo.json
    assert (undo.json["method"], undo.json["undoes_event_id"], undo.json["n_tags"],
            undo.json["tagger"]) == ("undo", labeled["id"], 2, "ben")
    assert api.get(f"/datasets/{dataset_id}/current-labels").json["labeled"] == 0

    assert_error(api.post(f"/events/{labeled['id']}/undo", {"tagger": "ben"}), 409, "event_id",
                 "already undone")
    assert_error(api.post("/events/99999/undo", {"tagger": "ben"}), 404, "event_id", "99999")
    assert_error(api.post(f"/events/{undo.json['id']}/undo", {"tagger": 5}), 422, "tagger")
    assert_error(api.post(f"/events/{undo.json['id']}/undo", {"who": "ben"}), 422, "who")

    redo = api.post(f"/events/{undo.json['id']}/undo")  # no body: the server's tagger
    assert redo.status_code == 201, redo.json
    assert (redo.json["tagger"], redo.json["undoes_event_id"]) == ("tester", undo.json["id"])
    current = api.get(f"/datasets/{dataset_id}/current-labels").json
    assert {c["uri"]: c["label"] for c in current["labels"]} == {"img_00.png": "ring",
                                                                  "img_01.png": "peak"}
    events = api.get(f"/datasets/{dataset_id}/events").json["events"]
    assert [(e["method"], e["undoes_event_id"]) for e in events] == \
        [("undo", undo.json["id"]), ("undo", labeled["id"]), ("manual", None)]


# --- current labels -----------------------------------------------------------------------

def test_current_labels(api, dataset, labels):
    dataset_id = dataset["id"]
    ids = item_ids(api, dataset_id)
    first = api.post(f"/datasets/{dataset_id}/events", {
        "tagger": "ana", "method": "manual",
        "tags": [{"item_id": ids["stack.tif#frame=2"], "label_id": labels["ring"]},
                 {"item_id": ids["img_02.png"], "label_id": labels["ring"]}]}).json
    second = api.post(f"/datasets/{dataset_id}/events", {
        "tagger": "model", "method": "probability", "params": {"threshold": 0.8},
        "tags": [{"item_id": ids["img_04.png"], "label_id": labels["peak"], "confidence": 0.85},
                 {"item_id": ids["img_02.png"], "label_id": labels["peak"], "confidence": 0.9}]}
    ).json
    url = f"/datasets/{dataset_id}/current-labels"
    current = api.get(url).json
    assert current["counts"] == {"ring": 1, "peak": 2}
    assert (current["labeled"], current["total"]) == (3, 10)
    assert current["labels"] == [
        {"item_id": ids["img_02.png"], "uri": "img_02.png", "label_id": labels["peak"],
         "label": "peak", "event_id": second["id"], "confidence": 0.9},
        {"item_id": ids["img_04.png"], "uri": "img_04.png", "label_id": labels["peak"],
         "label": "peak", "event_id": second["id"], "confidence": 0.85},
        {"item_id": ids["stack.tif#frame=2"], "uri": "stack.tif#frame=2",
         "label_id": labels["ring"], "label": "ring", "event_id": first["id"],
         "confidence": None}]
    page = api.get(f"{url}?offset=1&limit=1").json
    assert [c["uri"] for c in page["labels"]] == ["img_04.png"]
    assert (page["offset"], page["limit"], page["labeled"]) == (1, 1, 3)
    assert_error(api.get(f"{url}?limit=10001"), 422, "limit", "10000")

    halo = api.post(f"/datasets/{dataset_id}/labels", {"name": "halo"}).json
    assert api.get(url).json["counts"] == {"ring": 1, "peak": 2, "halo": 0}
    assert halo["hotkey"] == "3"
