"""The REST API through the real server (``app.create_server``) on SQLite and PostgreSQL.

Every test gets a fresh database of each kind (fixture ``database_url``) and a real image
folder written into ``tmp_path``; the header scan runs in the server's background thread.
"""
from __future__ import annotations

import csv
import io
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from app import create_server
from db.models import Dataset
from db.session import transaction
from settings import Settings

PREFIX = "/api/v1"
SECRET = "tiled-secret-key-7f3a9c"
SCAN_TIMEOUT_S = 60


class Api:
    """The Flask test client, remembering every answer (to look for leaked secrets)."""

    def __init__(self, server):
        self.client = server.test_client()
        self.bodies: list[str] = []

    def call(self, method: str, url: str, **kwargs):
        response = self.client.open(PREFIX + url, method=method, **kwargs)
        self.bodies.append(response.get_data().decode(errors="replace"))  # ZIPs too
        return response

    def get(self, url: str, **kwargs):
        return self.call("GET", url, **kwargs)

    def post(self, url: str, json=None, **kwargs):
        if json is not None:
            kwargs["json"] = json
        return self.call("POST", url, **kwargs)


def assert_error(response, status: int, field: str | None, *words: str) -> dict:
    """A 4xx answer of the API's error shape, naming ``field`` and saying ``words``."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)
    body = response.json
    assert isinstance(body["error"], str) and body["error"]
    assert body.get("field") == field, body
    for word in words:
        assert word in body["error"], body
    return body


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url, data_roots=(tmp_path,),
                    cache_url="null://", tagger="tester")


@pytest.fixture
def server(settings):
    server = create_server(settings)
    yield server
    server.extensions["beamlabel"].engine.dispose()


@pytest.fixture
def api(server):
    api = Api(server)
    yield api
    wait_for_scans(api)
    leaked = [body for body in api.bodies if SECRET in body]
    assert not leaked, f"the Tiled API key appeared in an answer: {leaked[0][:300]}"


def wait_for_scans(api: Api) -> None:
    deadline = time.monotonic() + SCAN_TIMEOUT_S
    while any(d["status"] == "scanning" for d in api.get("/datasets").json["datasets"]):
        assert time.monotonic() < deadline, "header scans did not finish"
        time.sleep(0.05)


def wait_until_scanned(api: Api, dataset_id: int) -> dict:
    deadline = time.monotonic() + SCAN_TIMEOUT_S
    while (dataset := api.get(f"/datasets/{dataset_id}").json)["status"] == "scanning":
        assert time.monotonic() < deadline, f"data set {dataset_id} is still scanning"
        time.sleep(0.05)
    return dataset


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """6 PNGs, a 3-frame 16-bit TIFF and a corrupt TIFF: 8 files, 10 items after the scan."""
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (24, 32), dtype=np.uint8)).save(
            folder / f"img_{i:02d}.png")
    tifffile.imwrite(folder / "stack.tif", rng.integers(0, 60000, (3, 16, 16), dtype=np.uint16),
                     photometric="minisblack")
    (folder / "broken.tif").write_bytes(b"II*\x00 this is not a tiff at all")
    return folder


FILE_ORDER = ["broken.tif"] + [f"img_{i:02d}.png" for i in range(6)] + \
    ["stack.tif", "stack.tif#frame=1", "stack.tif#frame=2"]


@pytest.fixture
def dataset(api: Api, folder: Path) -> dict:
    response = api.post("/datasets", {"name": "beam", "source": {"kind": "directory",
                                                                 "path": str(folder)}})
    assert response.status_code == 201, response.json
    return wait_until_scanned(api, response.json["id"])


@pytest.fixture
def labels(api: Api, dataset: dict) -> dict[str, int]:
    ids = {}
    for name in ("ring", "peak"):
        response = api.post(f"/datasets/{dataset['id']}/labels", {"name": name})
        assert response.status_code == 201, response.json
        ids[name] = response.json["id"]
    return ids


def item_ids(api: Api, dataset_id: int) -> dict[str, int]:
    page = api.get(f"/datasets/{dataset_id}/items?limit=1000").json
    return {item["uri"]: item["id"] for item in page["items"]}


# --- data sets ----------------------------------------------------------------------------

def test_register_folder_scan_and_list(api, folder):
    response = api.post("/datasets", {"name": "beam", "source": {"kind": "directory",
                                                                 "path": str(folder)}})
    assert response.status_code == 201, response.json
    created = response.json
    assert created["name"] == "beam"
    assert created["source"] == {"kind": "directory", "location": str(folder.resolve())}
    assert created["status"] in ("scanning", "ready")
    assert created["total_files"] == 8 and created["item_count"] >= 8
    assert created["labeled_count"] == 0

    scanned = wait_until_scanned(api, created["id"])
    assert scanned["status"] == "ready"
    assert (scanned["item_count"], scanned["scanned_files"], scanned["problem_count"]) == (10, 8, 1)
    assert [p["path"] for p in scanned["problems"]] == ["broken.tif"]
    assert scanned["problems"][0]["message"]

    listed = api.get("/datasets").json["datasets"]
    assert len(listed) == 1
    summary = listed[0]
    assert "problems" not in summary
    for key in ("id", "name", "source", "status", "item_count", "labeled_count",
                "problem_count", "scanned_files", "total_files", "created_at"):
        assert summary[key] == scanned[key], key

    page = api.get(f"/datasets/{created['id']}/items?limit=100").json
    assert page["total"] == 10 and (page["offset"], page["limit"]) == (0, 100)
    assert [item["uri"] for item in page["items"]] == FILE_ORDER
    status = {item["uri"]: item["status"] for item in page["items"]}
    assert status.pop("broken.tif") == "unreadable"
    assert set(status.values()) == {"ok"}
    assert [item["frame"] for item in page["items"][-3:]] == [0, 1, 2]
    assert all(item["label_id"] is None for item in page["items"])


def test_register_refuses_bad_folders_names_and_sources(api, folder, tmp_path):
    good = {"name": "beam", "source": {"kind": "directory", "path": str(folder)}}
    assert api.post("/datasets", good).status_code == 201

    assert_error(api.post("/datasets", {**good, "name": "other",
                                        "source": {"kind": "directory", "path": "/etc"}}),
                 400, "source.path")
    assert_error(api.post("/datasets", {**good, "name": "other", "source": {
        "kind": "directory", "path": str(tmp_path / "no-such-folder")}}), 400, "source.path")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_error(api.post("/datasets", {**good, "name": "other", "source": {
        "kind": "directory", "path": str(empty)}}), 400, "source.path")
    assert_error(api.post("/datasets", good), 409, "name", "beam")

    assert_error(api.post("/datasets", {"name": "x", "source": {"kind": "ftp", "path": "/"}}),
                 422, "source.kind", "ftp", "directory", "tiled")
    assert_error(api.post("/datasets", {"name": "x", "source": {"path": str(folder)}}),
                 422, "source.kind")
    assert_error(api.post("/datasets", {"name": "x", "source": {"kind": "directory"}}),
                 422, "source.path", "required")
    assert_error(api.post("/datasets", {"name": "x", "source": {"kind": "directory",
                                                                "path": 7}}),
                 422, "source.path", "string")
    assert_error(api.post("/datasets", {"source": good["source"]}), 422, "name", "required")
    assert_error(api.post("/datasets", {**good, "name": ""}), 422, "name")
    assert_error(api.post("/datasets", {**good, "name": "x", "colour": "red"}),
                 422, "colour", "remove it")
    assert_error(api.post("/datasets"), 422, "body", "JSON object")
    assert_error(api.post("/datasets", data="{\"name\": ", content_type="application/json"),
                 400, "body", "not valid JSON")
    assert_error(api.post("/datasets", data="name=x", content_type="text/plain"),
                 415, "body", "application/json")

    assert [d["name"] for d in api.get("/datasets").json["datasets"]] == ["beam"]


def test_tiled_source_errors_never_show_the_api_key(api):
    unreachable = {"name": "tiled", "source": {"kind": "tiled", "uri": "http://127.0.0.1:9/api",
                                               "api_key": SECRET}}
    response = api.post("/datasets", unreachable)
    assert 400 <= response.status_code < 500
    assert response.json["field"] == "source.uri", response.json
    wrong_type = {"name": "tiled", "source": {"kind": "tiled", "uri": 5, "api_key": SECRET}}
    assert_error(api.post("/datasets", wrong_type), 422, "source.uri")
    missing_uri = {"name": "tiled", "source": {"kind": "tiled", "api_key": SECRET}}
    assert_error(api.post("/datasets", missing_uri), 422, "source.uri", "required")
    assert_error(api.post("/datasets", {"name": "tiled", "source": {
        "kind": "tiled", "uri": "http://127.0.0.1:9/api", "api_key": [SECRET]}}),
        422, "source.api_key")
    assert api.get("/datasets").json["datasets"] == []
    # (the ``api`` fixture checks that SECRET is in none of the answers)


def test_register_tiled_container_keeps_the_api_key_secret(api, tiled_server):
    root = tiled_server.new_container("api")
    tiled_server.write_array(f"{root}/detector/frame", np.zeros((16, 12), np.uint16))
    tiled_server.write_array(f"{root}/detector/stack", np.ones((4, 8, 8), np.float32))
    secret = tiled_server.api_key
    uri = tiled_server.metadata_uri(root)

    wrong_key = {"name": "remote", "source": {"kind": "tiled", "uri": uri,
                                              "api_key": SECRET}}
    refused = api.post("/datasets", wrong_key)
    assert 400 <= refused.status_code < 500 and refused.json["field"] == "source.uri"

    response = api.post("/datasets", {"name": "remote", "source": {
        "kind": "tiled", "uri": uri, "api_key": secret}})
    assert response.status_code == 201, response.json
    assert response.json["source"] == {"kind": "tiled", "location": uri}
    scanned = wait_until_scanned(api, response.json["id"])
    assert (scanned["status"], scanned["item_count"], scanned["problem_count"]) == ("ready", 5, 0)
    items = api.get(f"/datasets/{scanned['id']}/items").json["items"]
    assert [i["uri"] for i in items][:2] == ["detector/frame", "detector/stack"]

    in_uri = api.post("/datasets", {"name": "key in uri", "source": {
        "kind": "tiled", "uri": f"{uri}?api_key={secret}"}})
    assert in_uri.status_code == 201, in_uri.json  # works, and the key is not shown
    assert in_uri.json["source"]["location"] == uri
    answers = api.bodies + [api.get("/datasets").get_data(as_text=True)]
    answers += [api.get(f"/datasets/{d['id']}").get_data(as_text=True)
                for d in api.get("/datasets").json["datasets"]]
    assert not [a for a in answers if secret in a], "the Tiled API key appeared in an answer"


def test_stored_api_key_is_never_returned(api, server):
    with transaction(server.extensions["beamlabel"].session_factory) as session:
        dataset = Dataset(name="remote", source_kind="tiled", location="http://tiled/api/x",
                          api_key=SECRET, status="ready")
        key_in_uri = Dataset(name="remote 2", source_kind="tiled",
                             location=f"http://tiled/api/y?API_KEY={SECRET}&n=1", status="ready")
        session.add_all([dataset, key_in_uri])
    listed = api.get("/datasets").json["datasets"]
    assert [d["source"] for d in listed] == [
        {"kind": "tiled", "location": "http://tiled/api/x"},
        {"kind": "tiled", "location": "http://tiled/api/y?n=1"}]
    detail = api.get(f"/datasets/{dataset.id}").json
    assert detail["source"] == {"kind": "tiled", "location": "http://tiled/api/x"}
    assert api.get(f"/datasets/{key_in_uri.id}").json["source"]["location"] == \
        "http://tiled/api/y?n=1"
    assert "api_key" not in str(detail) and "api_key" not in str(listed)


def test_unknown_dataset_and_route(api):
    for url in ("/datasets/999", "/datasets/999/items", "/datasets/999/labels",
                "/datasets/999/events", "/datasets/999/current-labels"):
        assert_error(api.get(url), 404, "dataset_id", "999")
    assert_error(api.post("/datasets/999/labels", {"name": "ring"}), 404, "dataset_id")
    assert_error(api.post("/datasets/999/events", {"tagger": "a", "method": "manual",
                                                   "tags": [{"item_id": 1, "label_id": None}]}),
                 404, "dataset_id")
    assert_error(api.get("/nothing-here"), 404, None, "openapi.json")
    assert_error(api.get("/datasets/abc"), 404, None)
    wrong_method = api.call("DELETE", "/datasets/999")
    assert_error(wrong_method, 405, None, "use GET")
    assert wrong_method.headers["Allow"] == "GET"
    assert_error(api.call("PUT", "/datasets"), 405, None, "GET or POST")


# --- items --------------------------------------------------------------------------------

def test_items_paging_and_filters(api, dataset, labels):
    dataset_id = dataset["id"]
    ids = item_ids(api, dataset_id)
    event = {"tagger": "ana", "method": "manual", "tags": [
        {"item_id": ids["img_00.png"], "label_id": labels["ring"]},
        {"item_id": ids["stack.tif#frame=1"], "label_id": labels["ring"]},
        {"item_id": ids["img_03.png"], "label_id": labels["peak"]}]}
    assert api.post(f"/datasets/{dataset_id}/events", event).status_code == 201

    page = api.get(f"/datasets/{dataset_id}/items?offset=2&limit=3").json
    assert (page["total"], page["offset"], page["limit"]) == (10, 2, 3)
    assert [item["uri"] for item in page["items"]] == FILE_ORDER[2:5]
    assert api.get(f"/datasets/{dataset_id}/items?offset=9").json["items"][0]["uri"] == \
        FILE_ORDER[9]
    assert api.get(f"/datasets/{dataset_id}/items?offset=50").json["items"] == []

    ring = api.get(f"/datasets/{dataset_id}/items?label={labels['ring']}").json
    assert ring["total"] == 2
    assert [(i["uri"], i["label_id"]) for i in ring["items"]] == \
        [("img_00.png", labels["ring"]), ("stack.tif#frame=1", labels["ring"])]
    unlabeled = api.get(f"/datasets/{dataset_id}/items?unlabeled=true&limit=4").json
    assert unlabeled["total"] == 7
    assert [i["uri"] for i in unlabeled["items"]] == ["broken.tif", "img_01.png", "img_02.png",
                                                       "img_04.png"]
    everything = api.get(f"/datasets/{dataset_id}/items").json
    assert everything["limit"] == 100
    assert {i["uri"]: i["label_id"] for i in everything["items"]}["img_03.png"] == labels["peak"]

    items = f"/datasets/{dataset_id}/items"
    assert_error(api.get(f"{items}?limit=1001"), 422, "limit", "1000")
    assert_error(api.get(f"{items}?limit=0"), 422, "limit")
    assert_error(api.get(f"{items}?offset=-1"), 422, "offset")
    assert_error(api.get(f"{items}?limit=ten"), 422, "limit", "integer")
    assert_error(api.get(f"{items}?label=ring"), 422, "label")
    assert_error(api.get(f"{items}?label=99999"), 404, "label", "99999")
    assert_error(api.get(f"{items}?label={labels['ring']}&unlabeled=true"), 400, "unlabeled")


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


# --- export and import --------------------------------------------------------------------

def test_export_routes(api, dataset, labels, folder):
    dataset_id = dataset["id"]
    ids = item_ids(api, dataset_id)
    api.post(f"/datasets/{dataset_id}/events", {"tagger": "ana", "method": "manual", "tags": [
        {"item_id": ids["img_00.png"], "label_id": labels["ring"]},
        {"item_id": ids["stack.tif#frame=1"], "label_id": labels["ring"]},
        {"item_id": ids["img_03.png"], "label_id": labels["peak"], "confidence": 0.5}]})
    url = f"/datasets/{dataset_id}/export"

    as_csv = api.get(f"{url}?format=csv")
    assert as_csv.status_code == 200
    assert "Content-Length" not in as_csv.headers  # streamed, not built whole first
    assert as_csv.mimetype == "text/csv"
    assert as_csv.headers["Content-Disposition"] == 'attachment; filename="beam-labels.csv"'
    rows = list(csv.reader(io.StringIO(as_csv.get_data(as_text=True))))
    assert rows[0] == ["uri", "label", "tagger", "event_id", "time"]
    assert [row[:3] for row in rows[1:]] == [["img_00.png", "ring", "ana"],
                                             ["img_03.png", "peak", "ana"],
                                             ["stack.tif#frame=1", "ring", "ana"]]
    assert api.get(url).get_data() == as_csv.get_data()  # CSV unless asked otherwise

    as_json = api.get(f"{url}?format=json")
    assert as_json.status_code == 200 and as_json.mimetype == "application/json"
    assert as_json.headers["Content-Disposition"].endswith('filename="beam-labels.json"')
    document = as_json.json
    assert [(i["uri"], i["confidence"]) for i in document["items"]] == \
        [("img_00.png", None), ("img_03.png", 0.5), ("stack.tif#frame=1", None)]
    assert [label["name"] for label in document["labels"]] == ["ring", "peak"]

    as_zip = api.get(f"{url}?format=zip")
    assert as_zip.status_code == 200 and as_zip.mimetype == "application/zip"
    assert as_zip.headers["Content-Disposition"].endswith('filename="beam-labels.zip"')
    archive = zipfile.ZipFile(io.BytesIO(as_zip.get_data()))
    assert archive.namelist() == ["labels.csv", "ring/img_00.png", "peak/img_03.png",
                                  "ring/stack.tif__frame1.tif"]
    assert archive.read("ring/img_00.png") == (folder / "img_00.png").read_bytes()

    assert_error(api.get(f"{url}?format=xml"), 422, "format", "csv")
    assert_error(api.get("/datasets/999/export?format=zip"), 404, "dataset_id", "999")


def test_import_route(api, dataset, labels):
    dataset_id = dataset["id"]
    url = f"/datasets/{dataset_id}/import"
    events_url = f"/datasets/{dataset_id}/events"
    text = "uri,label\nimg_00.png,ring\nimg_01.png,streak\nnowhere.png,peak\n"

    response = api.post(f"{url}?tagger=ana", data=text, content_type="text/csv")
    assert response.status_code == 201, response.json
    report = response.json
    assert report == {"event_id": report["event_id"], "n_tags": 1, "file_rows": 3,
                      "skipped_rows": 2, "unknown_uri_count": 1, "unknown_uris": ["nowhere.png"],
                      "unknown_labels": ["streak"], "created_labels": []}
    newest = api.get(events_url).json["events"][0]
    assert (newest["id"], newest["method"], newest["tagger"]) == \
        (report["event_id"], "import", "ana")

    created = api.post(f"{url}?create_missing_labels=true", data=text,
                       content_type="text/csv; charset=utf-8")
    assert created.status_code == 201, created.json
    assert (created.json["n_tags"], created.json["created_labels"]) == (2, ["streak"])
    assert api.get(events_url).json["events"][0]["tagger"] == "tester"
    assert "streak" in [label["name"] for label in
                        api.get(f"/datasets/{dataset_id}/labels").json["labels"]]

    before = api.get(events_url).json["events"]
    for kwargs, status, field, word in [
            ({"data": "path,class\nimg_00.png,ring\n", "content_type": "text/csv"},
             400, "body", "uri and label"),
            ({"data": "uri,label\nnowhere.png,ring\n", "content_type": "text/csv"},
             400, "body", "none of"),
            ({"data": b"uri,label\nimg_00.png,r\xe9ng\n", "content_type": "text/csv"},
             400, "body", "UTF-8"),
            ({}, 400, "body", "empty"),
            ({"data": text, "content_type": "text/plain"}, 415, "body", "text/csv"),
            ({"json": {"uri": "img_00.png", "label": "ring"}}, 415, "body", "text/csv")]:
        assert_error(api.post(url, **kwargs), status, field, word)
    assert_error(api.post(f"{url}?create_missing_labels=perhaps", data=text,
                          content_type="text/csv"), 422, "create_missing_labels")
    assert_error(api.post(f"{url}?tagger=", data=text, content_type="text/csv"), 422, "tagger")
    assert_error(api.post("/datasets/999/import", data=text, content_type="text/csv"),
                 404, "dataset_id")
    assert api.get(events_url).json["events"] == before


# --- the OpenAPI document -----------------------------------------------------------------

ROUTES = {
    "/api/v1/datasets": {"get", "post"},
    "/api/v1/datasets/{dataset_id}": {"get"},
    "/api/v1/datasets/{dataset_id}/items": {"get"},
    "/api/v1/datasets/{dataset_id}/labels": {"get", "post"},
    "/api/v1/datasets/{dataset_id}/labels/{label_id}": {"patch", "delete"},
    "/api/v1/datasets/{dataset_id}/labels/order": {"put"},
    "/api/v1/datasets/{dataset_id}/events": {"get", "post"},
    "/api/v1/events/{event_id}/undo": {"post"},
    "/api/v1/datasets/{dataset_id}/current-labels": {"get"},
    "/api/v1/datasets/{dataset_id}/export": {"get"},
    "/api/v1/datasets/{dataset_id}/import": {"post"},
    "/api/v1/jobs": {"get", "post"},
    "/api/v1/jobs/{job_id}": {"get", "delete"},
    "/api/v1/jobs/{job_id}/cancel": {"post"},
}
REQUEST_SCHEMAS = {
    ("/api/v1/datasets", "post"): "DatasetIn",
    ("/api/v1/datasets/{dataset_id}/labels", "post"): "LabelIn",
    ("/api/v1/datasets/{dataset_id}/events", "post"): "EventIn",
    ("/api/v1/events/{event_id}/undo", "post"): "UndoIn",
    ("/api/v1/datasets/{dataset_id}/labels/{label_id}", "patch"): "LabelPatchIn",
    ("/api/v1/datasets/{dataset_id}/labels/order", "put"): "LabelOrderIn",
    ("/api/v1/jobs", "post"): "JobIn",
}


def test_openapi_document_describes_every_route(api):
    response = api.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json
    assert doc["info"]["title"] == "beamlabel API"
    operation_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(set(operation_ids)) == len(operation_ids) == 25
    assert "create_event" in operation_ids
    paths = doc["paths"]
    for path, methods in ROUTES.items():
        assert path in paths, sorted(paths)
        assert set(paths[path]) == methods, (path, set(paths[path]))
        for method in methods:
            operation = paths[path][method]
            assert operation["summary"] and operation["tags"], (path, method)
            assert "422" in operation["responses"]
    schemas = doc["components"]["schemas"]
    for (path, method), name in REQUEST_SCHEMAS.items():
        body = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"].endswith("/" + name), body
        assert name in schemas
    assert paths["/api/v1/events/{event_id}/undo"]["post"]["requestBody"]["required"] is False
    assert {"DirectorySourceIn", "TiledSourceIn", "TagIn", "ErrorOut"} <= set(schemas)
    source = schemas["DatasetIn"]["properties"]["source"]
    assert source["discriminator"]["propertyName"] == "kind"
    assert set(schemas["TagIn"]["required"]) == {"item_id", "label_id"}
    assert schemas["TagIn"]["properties"]["confidence"]["anyOf"][0]["maximum"] == 1.0
    parameters = {p["name"]: p for p in paths["/api/v1/datasets/{dataset_id}/items"]["get"][
        "parameters"]}
    assert set(parameters) == {"dataset_id", "offset", "limit", "label", "unlabeled"}
    assert parameters["limit"]["schema"]["maximum"] == 1000
    created = paths["/api/v1/datasets"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("DatasetDetailOut")
    assert "api_key" not in str(schemas["DatasetOut"])

    export = paths["/api/v1/datasets/{dataset_id}/export"]["get"]
    assert set(export["responses"]["200"]["content"]) == {"text/csv", "application/json",
                                                          "application/zip"}
    export_parameters = {p["name"]: p for p in export["parameters"]}
    assert export_parameters["format"]["schema"]["enum"] == ["csv", "json", "zip"]
    imported = paths["/api/v1/datasets/{dataset_id}/import"]["post"]
    assert set(imported["requestBody"]["content"]) == {"text/csv"}
    assert {p["name"] for p in imported["parameters"]} == {"dataset_id", "tagger",
                                                           "create_missing_labels"}
    assert imported["responses"]["201"]["content"]["application/json"]["schema"][
        "$ref"].endswith("ImportOut")
    deleted = paths["/api/v1/datasets/{dataset_id}/labels/{label_id}"]["delete"]
    assert {p["name"] for p in deleted["parameters"]} == {"dataset_id", "label_id", "confirm",
                                                          "tagger"}
