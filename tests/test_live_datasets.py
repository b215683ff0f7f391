"""Live data sets: new files (Tiled keys) are found complete, in arrival order, registered
once, and counted; the REST route marks a data set live."""
from __future__ import annotations

import contextlib
import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile
from dash.testing.wait import until
from sqlalchemy import select

from data import live, live_ingest
from data.catalog import register_dataset
from data.live import FolderWatcher, TiledPoller, TiledWatcher, network_file_system
from data.live_ingest import (arrived_last_minute, hold_lease, register_arrivals, set_live,
                              watch_dataset)
from data.sources.base import Listing
from data.sources.tiled import TiledSource
from app import create_server
from db.models import Dataset, Item
from db.session import transaction
from tests.api_client import assert_error, wait_until_scanned
from tests.api_client import api, dataset, folder, server, settings  # noqa: F401 (fixtures)
from tests.databases import make_dataset
from tests.tiled_server import ByteCountingProxy, WebsocketRefusingProxy

WAIT_S = 30  # how long a file event or a watch's next look may take on a busy machine
SUBSCRIBED_WAIT_S = 5  # for a Tiled arrival when subscribed (its polls are 30 s apart)


def tiff_bytes(seed: int, frames: int = 1) -> bytes:
    buffer = io.BytesIO()
    values = np.random.default_rng(seed).integers(0, 60000, (frames, 16, 16), np.uint16)
    tifffile.imwrite(buffer, values[0] if frames == 1 else values, photometric="minisblack")
    return buffer.getvalue()


def write_image(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tiff_bytes(seed))


def collect(watcher: FolderWatcher, wanted: int) -> list[str]:
    """What the watcher reports until it has ``wanted`` files (events come on a thread)."""
    arrived: list[str] = []
    until(lambda: arrived.extend(watcher.poll()) or len(arrived) >= wanted, timeout=WAIT_S)
    return arrived


@pytest.fixture
def watched(tmp_path: Path):
    """A folder with one image and a started inotify watcher that knows it."""
    root = tmp_path / "live"
    write_image(root / "old.tif", 0)
    watcher = FolderWatcher(root, known=["old.tif"])
    watcher.start()
    assert watcher.mode == "events"
    assert watcher.poll() == []  # the look at what was there before
    yield root, watcher
    watcher.stop()


# --- the folder watcher -----------------------------------------------------------------------

def test_new_files_are_reported_once_in_arrival_order(watched, tmp_path: Path):
    root, watcher = watched
    write_image(root / "b.tif", 1)
    write_image(root / "a.tif.part", 2)
    (root / "a.tif.part").rename(root / "a.tif")  # written under another name, then renamed
    write_image(tmp_path / "elsewhere.tif", 3)
    os.rename(tmp_path / "elsewhere.tif", root / "moved_in.tif")  # written outside, moved in
    write_image(root / "run" / "c.tif", 4)  # a new sub-folder
    (root / "notes.txt").write_text("not an image")
    write_image(root / ".hidden.tif", 5)
    assert collect(watcher, 4) == ["b.tif", "a.tif", "moved_in.tif", "run/c.tif"]
    write_image(root / "b.tif", 6)  # rewritten: still the same file of the data set
    write_image(root / "d.tif", 7)
    assert collect(watcher, 1) == ["d.tif"]


def test_a_file_being_written_is_not_reported_until_it_is_closed(watched):
    root, watcher = watched
    content = tiff_bytes(7)
    with open(root / "slow.tif", "wb") as writer:
        writer.write(content[:len(content) // 2])
        writer.flush()
        write_image(root / "marker.tif", 8)  # events come in order: slow.tif's were first
        assert collect(watcher, 1) == ["marker.tif"]
        writer.write(content[len(content) // 2:])
    assert collect(watcher, 1) == ["slow.tif"]
    assert (root / "slow.tif").read_bytes() == content


def test_links_out_of_the_folder_are_not_reported(watched, tmp_path: Path):
    root, watcher = watched
    write_image(tmp_path / "outside.tif", 9)
    (root / ".link").symlink_to(tmp_path / "outside.tif")
    os.rename(root / ".link", root / "escape.tif")  # a link renamed into the folder
    write_image(root / "inside.tif", 10)
    assert collect(watcher, 1) == ["inside.tif"]
    assert watcher.poll() == []


def test_polling_takes_a_file_only_once_it_stopped_changing(tmp_path: Path):
    root = tmp_path / "nfs"
    write_image(root / "old.tif", 0)
    # settle_seconds=0: settled means unchanged between two looks, whatever their interval
    watcher = FolderWatcher(root, known=["old.tif"], use_events=False, settle_seconds=0)
    watcher.start()
    assert watcher.mode == "poll" and watcher.poll() == []
    content = tiff_bytes(11)
    third = len(content) // 3
    with open(root / "slow.tif", "wb") as writer:
        writer.write(content[:third])
        writer.flush()
        assert watcher.poll() == []  # first seen
        writer.write(content[third:2 * third])
        writer.flush()
        assert watcher.poll() == []  # grew since
        writer.write(content[2 * third:])
    write_image(root / "sub" / "early.tif", 12)
    os.utime(root / "sub" / "early.tif", ns=(1, 1))  # older than slow.tif: listed first
    assert watcher.poll() == []  # slow.tif grew again; early.tif first seen
    assert watcher.poll() == ["sub/early.tif", "slow.tif"]
    assert watcher.poll() == []
    assert (root / "slow.tif").read_bytes() == content


def test_a_polled_file_is_taken_only_once_it_stayed_unchanged_for_the_settling_time(
        tmp_path: Path):
    root = tmp_path / "nfs"
    root.mkdir()
    watcher = FolderWatcher(root, use_events=False, settle_seconds=0.5)
    watcher.start()
    write_image(root / "new.tif", 3)
    assert watcher.poll() == [] and watcher.poll() == []  # looked at twice, but just now
    until(lambda: watcher.poll() == ["new.tif"], timeout=WAIT_S)


def test_folders_on_network_file_systems_are_polled():
    mounts = ("/dev/sda1 / ext4 rw 0 0\n"
              "server:/beamline /data nfs4 rw 0 0\n"
              "/dev/sdb1 /data/local\\040disk xfs rw 0 0\n"
              "me@host:/x /mnt/remote fuse.sshfs rw 0 0\n")
    assert network_file_system(Path("/data/run42"), mounts) == "nfs4"
    assert network_file_system(Path("/data/local disk/run1"), mounts) is None
    assert network_file_system(Path("/mnt/remote/a"), mounts) == "fuse.sshfs"
    assert network_file_system(Path("/home/me"), mounts) is None


# --- Tiled --------------------------------------------------------------------------------

def test_a_tiled_container_reports_new_arrays_in_creation_order(tiled_server):
    root = tiled_server.new_container("live")
    tiled_server.write_array(f"{root}/first", np.zeros((8, 8), np.uint16))
    poller = TiledPoller(TiledSource(tiled_server.metadata_uri(root),
                                     api_key=tiled_server.api_key), known=["first"])
    assert poller.poll() == []
    tiled_server.write_array(f"{root}/zeta", np.ones((8, 8), np.uint16))
    tiled_server.write_array(f"{root}/alpha", np.ones((8, 8), np.float32))
    tiled_server.write_array(f"{root}/scan/stack", np.ones((3, 8, 8), np.uint16))
    tiled_server.write_table(f"{root}/table", {"x": [1, 2]})
    problems = []
    arrived = poller.poll(lambda path, message: problems.append(path))
    assert arrived == [Listing("zeta", 1), Listing("alpha", 1), Listing("scan/stack", 3)]
    assert problems == ["table"]
    tiled_server.write_array(f"{root}/scan/later", np.ones((8, 8), np.uint8))
    assert poller.poll() == [Listing("scan/later", 1)]
    assert poller.poll() == []


@contextlib.contextmanager
def live_tiled_dataset(tiled_server, home: Path, uri: str, **watch_options):
    """A live data set of the Tiled container at ``uri``, watched on a thread while in the
    block; yields a function that lists its items (uri, status, height) in file order, the
    session factory and the data set's id."""
    from db.session import open_database
    from settings import Settings

    engine, session_factory = open_database(Settings(home=home))
    registered = register_dataset(session_factory, (), "beam", "tiled", uri,
                                  tiled_server.api_key)
    with transaction(session_factory) as session:
        set_live(session, registered.id, True)

    def items():
        with session_factory() as session:
            return session.execute(select(Item.uri, Item.status, Item.height)
                                   .where(Item.dataset_id == registered.id)
                                   .order_by(Item.sort_key)).all()
    stop, watching = threading.Event(), threading.Event()
    watch = threading.Thread(target=watch_dataset,
                             args=(session_factory, registered.id, "me", stop),
                             kwargs={"watching": watching, **watch_options})
    watch.start()
    try:
        assert watching.wait(WAIT_S)
        yield items, session_factory, registered.id
    finally:
        stop.set()
        watch.join()
        engine.dispose()


def uris(items) -> list[str]:
    return [uri for uri, _, _ in items()]


def subscription_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate()
            if thread.name.startswith("tiled-subscription")]


def test_a_live_tiled_data_set_gains_items(tiled_server, tmp_path: Path):
    root = tiled_server.new_container("live")
    tiled_server.write_array(f"{root}/a", np.zeros((8, 8), np.uint16))
    with live_tiled_dataset(tiled_server, tmp_path / "home", tiled_server.metadata_uri(root),
                            poll_seconds=0.1) as (items, session_factory, dataset_id):
        tiled_server.write_array(f"{root}/c", np.ones((2, 8, 8), np.uint16))
        tiled_server.write_array(f"{root}/b", np.ones((8, 8), np.uint16))
        until(lambda: len(items()) == 4 and all(status != "pending" for _, status, _ in items()),
              timeout=WAIT_S)
        assert uris(items) == ["a", "c", "c#frame=1", "b"]
        assert [height for _, _, height in items()[1:]] == [8, 8, 8]
        with session_factory() as session:
            assert arrived_last_minute(session, dataset_id) == 2


def test_a_subscribed_tiled_data_set_gains_arrays_long_before_its_next_poll(
        tiled_server, tmp_path: Path):
    root = tiled_server.new_container("live")
    tiled_server.write_array(f"{root}/a", np.zeros((8, 8), np.uint16))
    with live_tiled_dataset(tiled_server, tmp_path / "home", tiled_server.metadata_uri(root),
                            poll_seconds=30) as (items, _, _):
        # One by one, each within seconds: the first look and the looks on connecting
        # explain one each at most, the polls (every 30 s) none.
        expected = ["a"]
        for path in ["b", "c", "run/d", "run/e", "run/f"]:
            tiled_server.write_array(f"{root}/{path}", np.ones((8, 8), np.uint16))
            expected.append(path)
            until(lambda: uris(items) == expected, timeout=SUBSCRIBED_WAIT_S)
        assert len(subscription_threads()) == 2  # the container and run/
    assert subscription_threads() == []  # stopping the watch disconnected them


def test_a_tiled_watcher_follows_sub_containers_up_to_its_limit(tiled_server):
    root = tiled_server.new_container("live")
    tiled_server.write_array(f"{root}/one/a", np.zeros((8, 8), np.uint16))
    source = TiledSource(tiled_server.metadata_uri(root), api_key=tiled_server.api_key)
    watcher = TiledWatcher(source, max_subscriptions=2, write_grace_seconds=0)
    watcher.start()
    try:
        assert watcher.poll() == [Listing("one/a", 1)]
        until(lambda: watcher.subscribed == ["", "one"], timeout=WAIT_S)
        watcher.news.clear()
        tiled_server.write_array(f"{root}/one/b", np.zeros((8, 8), np.uint16))
        assert watcher.news.wait(SUBSCRIBED_WAIT_S)  # told; poll finds it
        assert watcher.poll() == [Listing("one/b", 1)]
        tiled_server.write_array(f"{root}/two/c", np.zeros((8, 8), np.uint16))
        assert watcher.poll() == [Listing("two/c", 1)]  # beyond the limit: only polled
        assert watcher.subscribed == ["", "one"] and len(subscription_threads()) == 2
    finally:
        watcher.stop()
    assert watcher.subscribed == [] and subscription_threads() == []


def test_a_new_tiled_array_is_reported_only_a_while_after_it_was_first_listed(tiled_server):
    from tiled.structures.array import ArrayStructure
    from tiled.structures.core import StructureFamily
    from tiled.structures.data_source import DataSource

    root = tiled_server.new_container("live")
    source = TiledSource(tiled_server.metadata_uri(root), api_key=tiled_server.api_key)
    watcher = TiledWatcher(source, write_grace_seconds=2)
    watcher.start()
    try:
        assert watcher.poll() == []
        values = np.full((8, 8), 7, np.uint16)
        # What a writer does: make the array, then send its values (it reads 0 meanwhile).
        array = tiled_server.client()[root].new(StructureFamily.array, [DataSource(
            structure=ArrayStructure.from_array(values), structure_family="array")],
            key="new")
        assert watcher.poll() == []  # listed, held
        array.write(values)
        until(lambda: watcher.poll() == [Listing("new", 1)], timeout=WAIT_S)
        assert (source.read("new") == values).all()
    finally:
        watcher.stop()


def test_a_tiled_subscription_that_the_server_ends_is_made_again(tiled_server, monkeypatch):
    import httpx

    monkeypatch.setattr(live, "RETRY_SECONDS", (0.2, 1.0))
    root = tiled_server.new_container("live")
    with ByteCountingProxy(tiled_server.port) as proxy:
        source = TiledSource(tiled_server.metadata_uri(root, port=proxy.port),
                             api_key=tiled_server.api_key)
        watcher = TiledWatcher(source, write_grace_seconds=0)
        watcher.start()

        def subscriptions_made():
            watcher.poll()
            return proxy.sent_by_client().count(b"GET /api/v1/stream/single/")
        try:
            until(lambda: subscriptions_made() == 1 and watcher.subscribed == [""],
                  timeout=WAIT_S)
            closed = httpx.delete(f"{tiled_server.uri}/stream/close/{root}",
                                  headers={"Authorization": f"Apikey {tiled_server.api_key}"})
            assert closed.status_code == 200
            until(lambda: subscriptions_made() == 2 and watcher.subscribed == [""],
                  timeout=WAIT_S)
            watcher.news.clear()
            tiled_server.write_array(f"{root}/b", np.ones((8, 8), np.uint16))
            assert watcher.news.wait(SUBSCRIBED_WAIT_S)
            assert watcher.poll() == [Listing("b", 1)]
        finally:
            watcher.stop()


def test_a_tiled_server_without_streaming_is_polled(tiled_server, tmp_path: Path):
    root = tiled_server.new_container("live")
    tiled_server.write_array(f"{root}/a", np.zeros((8, 8), np.uint16))
    with WebsocketRefusingProxy(tiled_server.port) as proxy, \
            live_tiled_dataset(tiled_server, tmp_path / "home",
                               tiled_server.metadata_uri(root, port=proxy.port),
                               poll_seconds=0.2) as (items, _, _):
        until(lambda: proxy.refused >= 1, timeout=WAIT_S)
        tiled_server.write_array(f"{root}/b", np.ones((8, 8), np.uint16))
        tiled_server.write_array(f"{root}/run/c", np.ones((8, 8), np.uint16))
        until(lambda: uris(items) == ["a", "b", "run/c"], timeout=WAIT_S)
        assert subscription_threads() == []  # refused: none runs, none waits forever
    assert subscription_threads() == []


# --- registration and the lease ----------------------------------------------------------------

def test_arrivals_are_appended_once_in_arrival_order(session_factory, monkeypatch):
    monkeypatch.setattr(live_ingest, "LOOKUP_BATCH", 2)  # "registered already?" in parts
    dataset_id, _, _ = make_dataset(session_factory, 2)
    assert register_arrivals(session_factory, dataset_id,
                             [Listing("z.tif"), Listing("img_00.tif"), Listing("c.tif")]) == 2
    assert register_arrivals(session_factory, dataset_id,
                             [Listing("c.tif"), Listing("a.tif"), Listing("a.tif")]) == 1
    with session_factory() as session:
        rows = session.execute(select(Item.path, Item.arrived_at, Item.status)
                               .where(Item.dataset_id == dataset_id)
                               .order_by(Item.sort_key)).all()
        assert [path for path, _, _ in rows] == ["img_00.tif", "img_01.tif", "z.tif", "c.tif",
                                                 "a.tif"]
        assert [arrived is not None for _, arrived, _ in rows] == [False, False, True, True, True]
        assert {status for _, _, status in rows[2:]} == {"pending"}
        assert arrived_last_minute(session, dataset_id) == 3


def test_one_process_at_a_time_holds_the_watch(session_factory):
    dataset_id, _, _ = make_dataset(session_factory, 1)
    assert hold_lease(session_factory, dataset_id, "first") is None  # not live
    with transaction(session_factory) as session:
        set_live(session, dataset_id, True)
    assert hold_lease(session_factory, dataset_id, "first", seconds=0) is True  # ends at once
    assert hold_lease(session_factory, dataset_id, "second") is True  # taken over
    assert hold_lease(session_factory, dataset_id, "first") is False
    assert hold_lease(session_factory, dataset_id, "second") is True
    with transaction(session_factory) as session:
        set_live(session, dataset_id, False)
    assert hold_lease(session_factory, dataset_id, "second") is None


# --- REST ---------------------------------------------------------------------------------

def patch(api, dataset_id, body):
    return api.call("PATCH", f"/datasets/{dataset_id}", json=body)


def test_marking_a_folder_live_over_rest_registers_new_files(api, dataset, folder):
    answer = patch(api, dataset["id"], {"live": True})
    assert answer.status_code == 200, answer.json
    assert answer.json["live"] is True and answer.json["arrived_last_minute"] == 0
    assert [d["live"] for d in api.get("/datasets").json["datasets"]] == [True]
    write_image(folder / "new" / "arrived.tif", 13)
    until(lambda: api.get(f"/datasets/{dataset['id']}").json["arrived_last_minute"] == 1,
          timeout=WAIT_S)
    scanned = wait_until_scanned(api, dataset["id"])
    assert scanned["item_count"] == dataset["item_count"] + 1
    assert scanned["total_files"] == dataset["total_files"] + 1
    uris = [item["uri"] for item in api.get(f"/datasets/{dataset['id']}/items?limit=100")
            .json["items"]]
    assert uris[-1] == "new/arrived.tif"

    answer = patch(api, dataset["id"], {"live": False})
    assert answer.status_code == 200 and answer.json["live"] is False


def test_marking_live_refuses_bad_requests(api, dataset):
    assert_error(patch(api, 999, {"live": True}), 404, "dataset_id", "999")
    assert_error(patch(api, dataset["id"], {"live": "yes"}), 422, "live")
    assert_error(patch(api, dataset["id"], {"live": 1}), 422, "live")
    assert_error(patch(api, dataset["id"], {}), 422, "live")
    assert_error(patch(api, dataset["id"], {"live": True, "folder": "/etc"}), 422, "folder")
    assert api.get(f"/datasets/{dataset['id']}").json["live"] is False


def lease_holder(services) -> str | None:
    with services.session_factory() as session:
        return session.scalar(select(Dataset.live_watcher))


def test_of_two_server_processes_one_watches_and_the_other_takes_over(api, dataset, folder,
                                                                      server, settings):
    first = server.extensions["beamlabel"]
    assert patch(api, dataset["id"], {"live": True}).status_code == 200
    until(lambda: lease_holder(first) == first.watcher_name, timeout=WAIT_S)
    second = create_server(settings).extensions["beamlabel"]  # another process of the server
    try:
        second.resume_live_watches()
        write_image(folder / "one.tif", 14)
        until(lambda: api.get(f"/datasets/{dataset['id']}").json["arrived_last_minute"] == 1,
              timeout=WAIT_S)
        assert lease_holder(first) == first.watcher_name != second.watcher_name

        first.stop_live_watches()  # the first process stops: its lease is given back
        until(lambda: lease_holder(second) == second.watcher_name, timeout=WAIT_S)
        write_image(folder / "two.tif", 15)
        until(lambda: api.get(f"/datasets/{dataset['id']}").json["arrived_last_minute"] == 2,
              timeout=WAIT_S)
        wait_until_scanned(api, dataset["id"])
        uris = [item["uri"] for item in
                api.get(f"/datasets/{dataset['id']}/items?limit=100").json["items"]]
        assert uris[-2:] == ["one.tif", "two.tif"] and len(uris) == len(set(uris))
    finally:
        second.stop_live_watches()
        second.engine.dispose()


def test_an_empty_folder_registered_live_fills_as_files_arrive(api, tmp_path: Path):
    empty = tmp_path / "beamtime"
    empty.mkdir()
    refused = api.post("/datasets", {"name": "later", "source": {"kind": "directory",
                                                                 "path": str(empty)}})
    assert_error(refused, 400, "source.path", "no images")
    answer = api.post("/datasets", {"name": "beamtime", "live": True,
                                    "source": {"kind": "directory", "path": str(empty)}})
    assert answer.status_code == 201, answer.json
    assert answer.json["live"] is True and answer.json["item_count"] == 0
    write_image(empty / "first.tif", 21)
    until(lambda: api.get(f"/datasets/{answer.json['id']}").json["item_count"] == 1,
          timeout=WAIT_S)
