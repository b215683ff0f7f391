"""Data sets and their items through the REST API, on SQLite and PostgreSQL."""
from __future__ import annotations

import numpy as np

from db.models import Dataset
from db.session import transaction
from tests.api_client import FILE_ORDER, SECRET, assert_error, item_ids, wait_until_scanned
from tests.api_client import api, dataset, folder, labels, server, settings  # noqa: F401 (fixtures)


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
    assert_error(wrong_method, 405, None, "use GET or PATCH")
    assert wrong_method.headers["Allow"] == "GET, PATCH"
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
