"""The folder data source on real folder trees: listing, problems, escapes and roots."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tifffile

from data.sources import (SOURCE_KINDS, ImageInfo, Listing, SourceError, UnreadableImage,
                          open_source)
from data.sources.directory import DirectorySource, check_inside_roots


def touch(root, *paths):
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(b"not opened by the listing")


def listing(source):
    problems = []
    items = list(source.list_items(lambda path, message: problems.append((path, message))))
    return items, problems


def test_listing_order_suffixes_and_hidden_entries(tmp_path):
    touch(tmp_path, "b.png", "a/z.tif", "a/b/c.tiff", "A.JPG", "a-b/x.jpeg", "a/a.png",
          ".hidden.png", ".cache/x.png", "a/.thumbs/y.png", "notes.txt", "a/data.h5", "c.PNG")
    items, problems = listing(DirectorySource(str(tmp_path)))
    # Folder by folder, names sorted: a folder's files stay together.
    assert [item.path for item in items] == [
        "A.JPG", "a/a.png", "a/b/c.tiff", "a/z.tif", "a-b/x.jpeg", "b.png", "c.PNG"]
    assert all(item == Listing(item.path, None) for item in items)
    assert problems == []


def test_listing_does_not_open_files(tmp_path):
    touch(tmp_path, "corrupt.tif")
    items, problems = listing(DirectorySource(str(tmp_path)))
    assert items == [Listing("corrupt.tif")] and problems == []


NOBODY = 65534


def list_as_nobody(folder):
    """The listing made by an unprivileged user (root reads folders whatever their mode),
    in a forked child that gives up root before listing."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            problems = []
            items = [item.path for item in DirectorySource(str(folder)).list_items(
                lambda path, message: problems.append((path, message)))]
            os.write(write_end, json.dumps([items, problems]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        output = pipe.read()
    os.waitpid(pid, 0)
    items, problems = json.loads(output)
    return items, [tuple(problem) for problem in problems]


@pytest.fixture
def shared_tmp():
    """A temporary folder that other users may enter (pytest's tmp_path is root-only)."""
    folder = Path(tempfile.mkdtemp(prefix="beamlabel-test-"))
    folder.chmod(0o755)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder)


def test_unreadable_folder_is_reported_and_skipped(shared_tmp):
    touch(shared_tmp, "ok/a.png", "locked/b.png", "z.png")
    for path in shared_tmp.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    (shared_tmp / "locked").chmod(0)
    if os.geteuid() == 0:
        items, problems = list_as_nobody(shared_tmp)
    else:
        items, problems = listing(DirectorySource(str(shared_tmp)))
        items = [item.path for item in items]
    assert items == ["ok/a.png", "z.png"]
    assert len(problems) == 1
    assert problems[0][0] == "locked/" and "cannot list this folder" in problems[0][1]


def test_broken_links_and_pipes_are_reported(tmp_path):
    touch(tmp_path, "a.png")
    (tmp_path / "gone.tif").symlink_to(tmp_path / "missing.tif")
    (tmp_path / "gone_folder").symlink_to(tmp_path / "missing")
    os.mkfifo(tmp_path / "pipe.tif")
    items, problems = listing(DirectorySource(str(tmp_path)))
    assert [item.path for item in items] == ["a.png"]
    reported = dict(problems)
    assert "broken symbolic link" in reported["gone.tif"]
    assert "broken symbolic link" in reported["gone_folder"]
    assert "not a regular file" in reported["pipe.tif"]


def test_links_leaving_the_folder_are_not_followed(tmp_path):
    data, outside = tmp_path / "data", tmp_path / "outside"
    touch(outside, "secret.png", "folder/x.png")
    touch(data, "a.png", "inner/b.png")
    (data / "secret.png").symlink_to(outside / "secret.png")
    (data / "folder").symlink_to(outside / "folder")
    (data / "inner_link").symlink_to(data / "inner")
    (data / "inner" / "loop").symlink_to(data)
    items, problems = listing(DirectorySource(str(data)))
    # The link into the folder is followed once (inner was listed already: no double).
    assert [item.path for item in items] == ["a.png", "inner/b.png"]
    reported = dict(problems)
    assert set(reported) == {"folder", "secret.png"}
    assert all("outside the data set folder" in message for message in reported.values())


def test_listing_a_missing_folder_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="cannot be read"):
        listing(DirectorySource(str(tmp_path / "nope")))


def test_probe_and_read_delegate_to_the_readers(tmp_path):
    stack = np.arange(2 * 30 * 40, dtype=np.uint16).reshape(2, 30, 40)
    (tmp_path / "run").mkdir()
    tifffile.imwrite(tmp_path / "run" / "s.tif", stack, photometric="minisblack")
    source = open_source("directory", str(tmp_path))
    assert source.kind == "directory" and source.location == str(tmp_path)
    assert source.probe("run/s.tif") == ImageInfo(2, 30, 40, "uint16")
    np.testing.assert_array_equal(source.read("run/s.tif", 1), stack[1])
    # Local files come whole even with max_size: striding would drop one-pixel peaks.
    np.testing.assert_array_equal(source.read("run/s.tif", 1, max_size=10), stack[1])
    # A 10 px preview of 30x40 comes whole: 4x4 means would make a 7x10 thumbnail, not 8x10
    # (block means of larger images: tests/test_readers_preview.py).
    np.testing.assert_array_equal(source.preview("run/s.tif", 1, 10), stack[1])
    touch(tmp_path, "bad.tif")
    with pytest.raises(UnreadableImage, match="bad.tif"):
        source.probe("bad.tif")


@pytest.mark.parametrize("path", ["../outside.tif", "run/../../outside.tif", "/etc/hostname",
                                  "", "link/outside.tif", "sibling/b.tif", "run/a\x00.tif"])
def test_paths_that_escape_the_folder_are_refused(tmp_path, path):
    data = tmp_path / "data"
    touch(tmp_path, "outside.tif", "data/run/a.tif", "data2/b.tif")
    (data / "link").symlink_to(tmp_path)
    (data / "sibling").symlink_to(tmp_path / "data2")  # a folder whose name begins alike
    source = DirectorySource(str(data))
    with pytest.raises(SourceError, match="outside the data set folder|not a path inside"):
        source.read(path)
    with pytest.raises(SourceError):
        source.probe(path)


def test_check_inside_roots(tmp_path):
    root, other = tmp_path / "root", tmp_path / "other"
    (root / "run").mkdir(parents=True)
    other.mkdir()
    touch(root, "file.tif")
    assert check_inside_roots(root / "run" / ".." / "run", [root]) == (root / "run").resolve()
    assert check_inside_roots(root, [other, root]) == root.resolve()
    with pytest.raises(SourceError) as error:
        check_inside_roots(other, [root])
    assert str(root) in str(error.value)
    assert "BEAMLABEL_DATA_ROOTS" in str(error.value) and "--data" in str(error.value)
    with pytest.raises(SourceError, match="does not exist"):
        check_inside_roots(root / "missing", [root])
    with pytest.raises(SourceError, match="not a folder"):
        check_inside_roots(root / "file.tif", [root])
    with pytest.raises(SourceError, match="no data roots"):
        check_inside_roots(root, [])


def test_check_inside_roots_does_not_follow_links_out(tmp_path):
    root, other = tmp_path / "root", tmp_path / "other"
    root.mkdir()
    other.mkdir()
    (root / "escape").symlink_to(other)
    with pytest.raises(SourceError, match="outside the data roots"):
        check_inside_roots(root / "escape", [root])


def test_source_kinds_and_unknown_kind():
    assert set(SOURCE_KINDS) == {"directory", "tiled"}
    with pytest.raises(SourceError, match="unknown data source kind 'ftp'.*directory, tiled"):
        open_source("ftp", "/data")


def test_a_path_with_a_nul_character_is_refused_with_a_message(tmp_path):
    with pytest.raises(SourceError, match="NUL character"):
        check_inside_roots(tmp_path / "a\x00b", [tmp_path])
