"""Exporting and importing labels through the REST API, on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
import zipfile

from tests.api_client import assert_error, item_ids
from tests.api_client import api, dataset, folder, labels, server, settings  # noqa: F401 (fixtures)


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
