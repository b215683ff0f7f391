"""The REST API's test client, its error check and the fixtures the API tests share.

The server is the real one (``app.create_server``) on a fresh database of each kind (fixture
``database_url``), with a real image folder written into ``tmp_path``; the header scan runs
in the server's background thread. A test module imports the fixtures it uses together
with the ones they depend on.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from app import create_server
from settings import Settings

PREFIX = "/api/v1"
SECRET = "tiled-secret-key-7f3a9c"
SCAN_TIMEOUT_S = 60


class Api:
    """The Flask test client, remembering every answer (to look for leaked secrets)."""

    def __init__(self, server):
        self.server = server
        self.client = server.test_client()
        self.bodies: list[str] = []

    def call(self, method: str, url: str, **kwargs):
        response = self.client.open(PREFIX + url, method=method, **kwargs)
        self.bodies.append(response.get_data().decode(errors="replace"))  # ZIPs too
        return response

    def get(self, url: str, **kwargs):
        return self.call("GET", url, **kwargs)

    def post(self, url: str, json=None, **kwargs):
        """A POST as a JSON client sends it (the JSON media type even with no body)."""
        if json is not None:
            kwargs["json"] = json
        elif "content_type" not in kwargs and "data" not in kwargs:
            kwargs["content_type"] = "application/json"
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
    server.extensions["beamlabel"].stop_live_watches()  # before their database goes
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
