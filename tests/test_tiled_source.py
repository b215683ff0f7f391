"""TiledSource against a real Tiled server on loopback (tests/tiled_server.py)."""
from __future__ import annotations

import re
import socket
import time
from urllib.parse import unquote

import numpy as np
import pytest

import data.sources.tiled as tiled_module
from data.sources.base import ImageInfo, Listing, SourceError, UnreadableImage
from data.sources.tiled import TiledSource
from tests.tiled_server import ByteCountingProxy

RNG = np.random.default_rng(7)


def _image(height: int, width: int) -> np.ndarray:
    return RNG.integers(0, 65535, size=(height, width), dtype=np.uint16)


@pytest.fixture(scope="module")
def tree(tiled_server):
    """A nested container written in unsorted order, with one 1-D array (a problem)."""
    root = tiled_server.new_container("tree")
    arrays = {
        "top": _image(20, 30),
        "scan/stack": RNG.integers(0, 65535, size=(5, 40, 36), dtype=np.uint16),
        "scan/inner/b_img": _image(100, 70),
        "scan/a_img": _image(64, 48),
        "scan/line": np.arange(10, dtype=np.uint16),
    }
    for path, array in arrays.items():
        tiled_server.write_array(f"{root}/{path}", array)
    return root, arrays


@pytest.fixture
def source(tiled_server, tree):
    root, _ = tree
    return TiledSource(tiled_server.metadata_uri(root), api_key=tiled_server.api_key)


def _list(source):
    problems = []
    listings = list(source.list_items(lambda path, message: problems.append((path, message))))
    return listings, problems


def test_listing_walks_nested_containers_sorted_with_frame_counts(source):
    listings, problems = _list(source)
    assert listings == [
        Listing("scan/a_img", 1),
        Listing("scan/inner/b_img", 1),
        Listing("scan/stack", 5),
        Listing("top", 1),
    ]
    assert len(problems) == 1
    path, message = problems[0]
    assert path == "scan/line" and "1-D" in message


def test_listing_reports_tables_and_odd_arrays_as_problems(tiled_server):
    root = tiled_server.new_container("odd")
    tiled_server.write_array(f"{root}/img", _image(8, 8))
    tiled_server.write_array(f"{root}/cube4d", np.zeros((2, 2, 4, 4), np.uint16))
    tiled_server.write_array(f"{root}/empty", np.zeros((0, 4, 4), np.uint16))
    tiled_server.write_table(f"{root}/table", {"x": [1, 2, 3]})
    source = TiledSource(tiled_server.metadata_uri(root), api_key=tiled_server.api_key)
    listings, problems = _list(source)
    assert listings == [Listing("img", 1)]
    assert sorted(path for path, _ in problems) == ["cube4d", "empty", "table"]
    messages = dict(problems)
    assert "4-D" in messages["cube4d"] and "empty" in messages["empty"]
    assert "table" in messages["table"]


def test_listing_pages_through_a_container_without_reading_data(tiled_server, monkeypatch):
    root = tiled_server.new_container("paged")
    for index in range(7):
        tiled_server.write_array(f"{root}/img_{index}", _image(16, 16))
    monkeypatch.setattr(tiled_module, "LISTING_PAGE_SIZE", 3)
    with ByteCountingProxy(tiled_server.port) as proxy:
        source = TiledSource(tiled_server.metadata_uri(root, port=proxy.port),
                             api_key=tiled_server.api_key)
        listings, problems = _list(source)
        sent = unquote(proxy.sent_by_client().decode("latin-1"))
    assert [listing.path for listing in listings] == [f"img_{i}" for i in range(7)]
    assert problems == []
    assert sent.count(f"GET /api/v1/search/{root}") == 3  # pages of 3, 3 and 1 entries
    assert "/array/" not in sent  # structures only, no array data


def test_probe_reads_the_structure(source):
    assert source.probe("scan/a_img") == ImageInfo(n_frames=1, height=64, width=48,
                                                   dtype="uint16")
    assert source.probe("scan/stack") == ImageInfo(n_frames=5, height=40, width=36,
                                                   dtype="uint16")
    with pytest.raises(UnreadableImage, match="1-D"):
        source.probe("scan/line")
    with pytest.raises(UnreadableImage, match="not an image array"):
        source.probe("scan/inner")
    with pytest.raises(UnreadableImage, match="no longer"):
        source.probe("scan/missing")
    with pytest.raises(UnreadableImage):
        source.probe("../other")


def test_full_read_equals_the_written_array(source, tree):
    _, arrays = tree
    image = source.read("scan/inner/b_img")
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, arrays["scan/inner/b_img"])
    np.testing.assert_array_equal(source.read("top"), arrays["top"])
    for frame in (0, 4):
        np.testing.assert_array_equal(source.read("scan/stack", frame),
                                      arrays["scan/stack"][frame])
    with pytest.raises(UnreadableImage, match="no frame 5"):
        source.read("scan/stack", 5)
    with pytest.raises(UnreadableImage, match="no frame 1"):
        source.read("top", 1)


def test_strided_read_returns_the_reduced_image(source, tree):
    _, arrays = tree
    image = arrays["scan/inner/b_img"]  # 100 x 70; stride 100 // 30 = 3
    thumb = source.read("scan/inner/b_img", max_size=30)
    assert thumb.shape == (34, 24)
    np.testing.assert_array_equal(thumb, image[::3, ::3])
    frame = source.read("scan/stack", 3, max_size=20)  # 40 x 36; stride 2
    np.testing.assert_array_equal(frame, arrays["scan/stack"][3, ::2, ::2])
    # A max_size above the image size means full resolution.
    np.testing.assert_array_equal(source.read("top", max_size=500), arrays["top"])
    thumb[0, 0] = 1  # callers may transform in place
    assert source.read("scan/inner/b_img", max_size=30).shape == (34, 24)


def test_thumbnails_are_strided_on_the_server(tiled_server):
    """Count the bytes that cross the network: a thumbnail of a 512 x 512 uint16 image
    (512 KiB of incompressible noise) must transfer about 1/64 of it."""
    root = tiled_server.new_container("bytes")
    image = _image(512, 512)
    tiled_server.write_array(f"{root}/big", image)
    with ByteCountingProxy(tiled_server.port) as proxy:
        source = TiledSource(tiled_server.metadata_uri(root, port=proxy.port),
                             api_key=tiled_server.api_key)
        assert source.probe("big").height == 512  # connect and look up first
        proxy.reset()
        np.testing.assert_array_equal(source.read("big"), image)
        full_bytes = proxy.bytes_to_client
        proxy.reset()
        thumb = source.read("big", max_size=64)
        thumb_bytes = proxy.bytes_to_client
        request = unquote(proxy.sent_by_client().decode("latin-1"))
    np.testing.assert_array_equal(thumb, image[::8, ::8])
    assert full_bytes >= image.nbytes
    assert thumb_bytes < image[::8, ::8].nbytes + 4096  # the strided pixels plus headers
    assert re.search(r"GET /api/v1/array/full/\S+slice=0:\d+:8,0:\d+:8 ", request)


def test_api_key_in_the_uri_is_used_and_never_shown(tiled_server, tree):
    root, arrays = tree
    key = tiled_server.api_key
    source = TiledSource(f"{tiled_server.metadata_uri(root)}?api_key={key}")
    assert key not in source.location and key not in repr(source)
    np.testing.assert_array_equal(source.read("top"), arrays["top"])


def test_wrong_or_missing_api_key_is_a_source_error_without_the_key(tiled_server, tree,
                                                                   monkeypatch):
    monkeypatch.delenv("TILED_API_KEY", raising=False)  # tiled falls back on it
    root, _ = tree
    uri = tiled_server.metadata_uri(root)
    wrong = "0123456789abcdef0123"
    for source in (TiledSource(uri, api_key=wrong), TiledSource(f"{uri}?api_key={wrong}")):
        with pytest.raises(SourceError, match="API key") as caught:
            _list(source)
        assert wrong not in str(caught.value) and wrong not in repr(source)
        with pytest.raises(SourceError) as caught:
            source.read("top")
        assert wrong not in str(caught.value)
    with pytest.raises(SourceError, match="needs an API key"):
        _list(TiledSource(uri))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_is_a_quick_source_error():
    source = TiledSource(f"http://127.0.0.1:{_free_port()}/api/v1/metadata/x",
                         api_key="secretkey42")
    started = time.monotonic()
    with pytest.raises(SourceError, match="running") as caught:
        _list(source)
    assert time.monotonic() - started < 5
    assert "secretkey42" not in str(caught.value)
    with pytest.raises(SourceError):
        source.probe("anything")


@pytest.mark.parametrize("location", ["not a uri", "ftp://127.0.0.1/data", "http://"])
def test_bad_uri_is_a_source_error(location):
    with pytest.raises(SourceError, match="URI"):
        _list(TiledSource(location))


def test_missing_container_or_an_array_as_location_is_a_source_error(tiled_server, tree):
    root, _ = tree
    key = tiled_server.api_key
    with pytest.raises(SourceError, match="no container"):
        _list(TiledSource(tiled_server.metadata_uri(f"{root}/nope"), api_key=key))
    with pytest.raises(SourceError, match="not a container"):
        _list(TiledSource(tiled_server.metadata_uri(f"{root}/top"), api_key=key))


def test_server_root_as_location_lists_everything_below(tiled_server, tree):
    root, _ = tree
    source = TiledSource(tiled_server.uri, api_key=tiled_server.api_key)
    paths = [listing.path for listing in _list(source)[0]]
    assert f"{root}/scan/stack" in paths and paths == sorted(paths)
    assert source.probe(f"{root}/scan/stack").n_frames == 5


def test_child_clients_are_cached_per_source(tiled_server, tree):
    root, _ = tree
    with ByteCountingProxy(tiled_server.port) as proxy:
        uri = tiled_server.metadata_uri(root, port=proxy.port)
        source = TiledSource(uri, api_key=tiled_server.api_key)
        source.probe("scan/a_img")
        proxy.reset()
        source.probe("scan/a_img")  # the cached client: no request
        _list(source)  # the listing hands its clients to the cache
        proxy.reset()
        source.probe("scan/stack")
        source.probe("top")
        assert proxy.sent_by_client() == b""
        other = TiledSource(uri, api_key=tiled_server.api_key)  # no shared state
        other.probe("top")
        assert b"GET /api/v1/metadata/" in proxy.sent_by_client()
