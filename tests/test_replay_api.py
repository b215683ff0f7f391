"""Replaying a data set over REST: a new live data set receives the original's readable
frames in arrival order, whole, through the live folder path; bad requests are refused."""
from __future__ import annotations

import time

import numpy as np
from dash.testing.wait import until

from data.readers import read_frame
from tests.api_client import FILE_ORDER, assert_error, wait_until_scanned
from tests.api_client import api, dataset, folder, server, settings  # noqa: F401 (fixtures)

WAIT_S = 60
READABLE = [uri for uri in FILE_ORDER if uri != "broken.tif"]


def replayed_uris(api, dataset_id: int) -> list[str]:
    return [item["uri"] for item in
            api.get(f"/datasets/{dataset_id}/items?limit=100").json["items"]]


def test_a_replay_delivers_every_readable_frame_in_arrival_order(api, dataset, folder,
                                                                 settings):
    answer = api.post(f"/datasets/{dataset['id']}/replay", {"rate": 50})
    assert answer.status_code == 201, answer.json
    replay = answer.json
    assert replay["name"] == "beam (replay)" and replay["live"] is True
    until(lambda: len(replayed_uris(api, replay["id"])) == len(READABLE), timeout=WAIT_S)
    replayed = wait_until_scanned(api, replay["id"])
    assert replayed["problem_count"] == 0  # the broken file is not replayed; no half files
    uris = replayed_uris(api, replay["id"])
    originals = [uri.replace("#frame=", "_f").replace(".png", "").replace(".tif", "")
                 for uri in READABLE]
    assert [uri.split("_", 1)[1].removesuffix(".tif") for uri in uris] == originals
    written = settings.home / "replays"
    for uri, original in zip(uris, READABLE):
        path, _, frame = original.partition("#frame=")
        expected = read_frame(folder / path, int(frame or 0))
        replayed_file = next(written.rglob(uri))
        np.testing.assert_array_equal(read_frame(replayed_file), expected)
    again = api.post(f"/datasets/{dataset['id']}/replay", {"rate": 50, "name": "second run"})
    assert again.status_code == 201 and again.json["name"] == "second run"


def test_a_replay_stops_when_its_data_set_is_no_longer_live(api, dataset):
    replay = api.post(f"/datasets/{dataset['id']}/replay", {"rate": 1}).json
    until(lambda: len(replayed_uris(api, replay["id"])) >= 1, timeout=WAIT_S)
    assert api.call("PATCH", f"/datasets/{replay['id']}",
                    json={"live": False}).status_code == 200
    time.sleep(3)  # the replay looks every second whether it is still live
    folder = next(iter([d for d in api.get("/datasets").json["datasets"]
                        if d["id"] == replay["id"]]))
    assert folder["live"] is False
    stopped_at = len(list((api.client.application.extensions["beamlabel"].settings.home
                           / "replays").rglob("*.tif")))
    time.sleep(2)
    assert len(list((api.client.application.extensions["beamlabel"].settings.home
                     / "replays").rglob("*.tif"))) == stopped_at < len(READABLE)


def test_bad_replay_requests_are_refused_naming_the_field(api, dataset):
    url = f"/datasets/{dataset['id']}/replay"
    assert_error(api.post("/datasets/999/replay", {"rate": 5}), 404, "dataset_id", "999")
    for rate in (0, -2, "fast", None, 1e9):
        assert_error(api.post(url, {"rate": rate}), 422, "rate")
    assert_error(api.post(url, {}), 422, "rate")
    assert_error(api.post(url, {"rate": 5, "folder": "/etc"}), 422, "folder")
    assert_error(api.post(url, {"rate": 5, "name": ""}), 422, "name")
    taken = api.post(url, {"rate": 5, "name": "beam"})
    assert_error(taken, 409, "name", "exists already")
    assert [d["name"] for d in api.get("/datasets").json["datasets"]] == ["beam"]
    replays = api.client.application.extensions["beamlabel"].settings.home / "replays"
    assert not replays.exists() or not list(replays.iterdir())  # no folder left behind
