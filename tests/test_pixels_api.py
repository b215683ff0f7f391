"""The viewer's pixel read-out route: raw values at full resolution, confined to the image."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from data.pixel_block import MAX_BLOCK
from tests import api_client
from tests.api_client import assert_error, item_ids, wait_until_scanned

# the fixtures of the API's tests (a server on each kind of database, its client)
settings, server, api = api_client.settings, api_client.server, api_client.api

RNG = np.random.default_rng(7)
WIDE = RNG.integers(0, 65535, (300, 200), dtype=np.uint16)  # rows, columns
STACK = RNG.integers(0, 1000, (3, 16, 16), dtype=np.uint16)
FLOATS = RNG.normal(0.0, 1.0, (8, 8)).astype(np.float32)
FLOATS[0, :4] = [np.nan, np.inf, -np.inf, 0.1]


@pytest.fixture
def images(api, tmp_path: Path) -> dict[str, int]:
    folder = tmp_path / "detector"
    folder.mkdir()
    tifffile.imwrite(folder / "wide.tif", WIDE, photometric="minisblack")
    tifffile.imwrite(folder / "stack.tif", STACK, photometric="minisblack")
    tifffile.imwrite(folder / "floats.tif", FLOATS, photometric="minisblack")
    (folder / "broken.tif").write_bytes(b"II*\x00 not a tiff")
    dataset = api.post("/datasets", {"name": "detector",
                                     "source": {"kind": "directory", "path": str(folder)}})
    assert dataset.status_code == 201, dataset.json
    wait_until_scanned(api, dataset.json["id"])
    return item_ids(api, dataset.json["id"])


def test_a_block_holds_the_raw_values_at_full_resolution(api, images):
    answer = api.get(f"/items/{images['wide.tif']}/pixels?x=10&y=20&width=5&height=3")
    assert answer.status_code == 200, answer.json
    assert answer.json["values"] == WIDE[20:23, 10:15].tolist()
    assert (answer.json["image_width"], answer.json["image_height"]) == (200, 300)
    assert answer.json["dtype"] == "uint16" and (answer.json["x"], answer.json["y"]) == (10, 20)

    one = api.get(f"/items/{images['wide.tif']}/pixels?x=199&y=299").json
    assert one["values"] == [[int(WIDE[299, 199])]]


def test_a_block_is_cut_at_the_image_edges(api, images):
    answer = api.get(f"/items/{images['wide.tif']}/pixels?x=190&y=290&width=64&height=64")
    assert answer.status_code == 200
    assert answer.json["values"] == WIDE[290:, 190:].tolist()  # 10 x 10


def test_each_frame_of_a_stack_is_its_own_image(api, images):
    answer = api.get(f"/items/{images['stack.tif#frame=1']}/pixels?x=0&y=0&width=16&height=16")
    assert answer.json["values"] == STACK[1].tolist()


def test_float_images_keep_their_values_and_name_nan_and_infinities(api, images):
    answer = api.get(f"/items/{images['floats.tif']}/pixels?x=0&y=0&width=8&height=8")
    assert answer.status_code == 200
    json.loads(answer.get_data(as_text=True))  # strict JSON: no bare NaN
    values = answer.json["values"]
    assert values[0][:4] == ["NaN", "Infinity", "-Infinity", 0.1]
    assert answer.json["dtype"] == "float32"
    assert np.array(values[1:], dtype=np.float32).tolist() == FLOATS[1:].tolist()


@pytest.mark.parametrize("query, field, words", [
    ("x=200&y=0", "x", ("0 to 199", "200")),
    ("x=0&y=300", "y", ("0 to 299", "300")),
])
def test_a_pixel_outside_the_image_is_refused_saying_the_range(api, images, query, field, words):
    assert_error(api.get(f"/items/{images['wide.tif']}/pixels?{query}"), 400, field, *words)


@pytest.mark.parametrize("query, field", [
    ("x=-1&y=0", "x"), ("y=0", "x"), ("x=0&y=0&width=0", "width"),
    (f"x=0&y=0&height={MAX_BLOCK + 1}", "height"), ("x=a&y=0", "x"),
])
def test_bad_query_values_are_422_naming_the_field(api, images, query, field):
    assert_error(api.get(f"/items/{images['wide.tif']}/pixels?{query}"), 422, field)


def test_unknown_and_unreadable_items(api, images):
    assert_error(api.get("/items/999999/pixels?x=0&y=0"), 404, "item_id", "999999")
    assert_error(api.get(f"/items/{2**63}/pixels?x=0&y=0"), 422, "item_id")
    assert_error(api.get(f"/items/{images['broken.tif']}/pixels?x=0&y=0"), 409, "item_id",
                 "cannot be read")
