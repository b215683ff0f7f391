"""Replaying a data set: every frame arrives whole, once, in the given order, on schedule."""
from __future__ import annotations

import math

import numpy as np
import pytest
import tifffile

from data.demo import generate_demo
from data.readers import read_frame
from data.replay import arrival_names, check_rate, replay
from data.sources.directory import DirectorySource


@pytest.fixture
def folder_source(tmp_path):
    truth = generate_demo(tmp_path / "images", n_images=4, size=32, seed=3)
    stack = np.arange(3 * 16 * 16, dtype=np.uint16).reshape(3, 16, 16)
    tifffile.imwrite(tmp_path / "images" / "stack.tif", stack, photometric="minisblack")
    entries = [(path, 0) for path, _ in truth] + [("stack.tif", frame) for frame in range(3)]
    return DirectorySource(str(tmp_path / "images")), entries, tmp_path / "images"


def test_every_frame_arrives_whole_in_order(folder_source, tmp_path):
    source, entries, originals = folder_source
    items = arrival_names(entries[::-1])  # any order: the replay keeps the one it is given
    heard = []
    written = replay(source, items, tmp_path / "live", rate=500,
                     on_written=lambda done, path: heard.append(path.name))
    assert written == len(entries)
    arrived = sorted(p.name for p in (tmp_path / "live").iterdir())
    assert arrived == heard == [item.arrival_name for item in items]  # names sort as they came
    for item in items:
        np.testing.assert_array_equal(read_frame(tmp_path / "live" / item.arrival_name),
                                      source.read(item.path, item.frame))
    assert items[0].arrival_name.endswith("stack_f2.tif")


def test_single_frame_files_are_hard_linked(folder_source, tmp_path):
    source, entries, originals = folder_source
    items = arrival_names(entries[:2])
    replay(source, items, tmp_path / "live", rate=500,
           original_of=lambda item: originals / item.path)
    for item in items:
        assert (tmp_path / "live" / item.arrival_name).stat().st_ino == \
            (originals / item.path).stat().st_ino


def test_arrivals_keep_to_the_schedule_and_stop_when_asked(folder_source, tmp_path):
    source, entries, _ = folder_source
    now = [0.0]
    waits = []

    def sleep(seconds):
        waits.append(round(seconds, 6))
        now[0] += seconds

    written = replay(source, arrival_names(entries), tmp_path / "live", rate=4,
                     should_stop=lambda: len(waits) >= 3, clock=lambda: now[0], sleep=sleep)
    assert waits == [0.25, 0.25, 0.25]  # 4 images per second, the first at once
    assert written == 3
    assert not list((tmp_path / "live").glob(".*"))  # no partial file left behind


@pytest.mark.parametrize("rate", [0, -1, math.nan, math.inf, True, "fast", 1e6])
def test_a_rate_out_of_range_is_refused_naming_the_range(rate):
    with pytest.raises(ValueError, match="rate must be a number of images per second"):
        check_rate(rate)


def test_an_image_that_became_unreadable_is_left_out_and_the_rest_arrive(
        folder_source, tmp_path):
    source, entries, originals = folder_source
    broken = entries[1][0]
    (originals / broken).write_bytes(b"no longer an image")
    items = arrival_names(entries[:3])
    written = replay(source, items, tmp_path / "live", rate=500)
    assert written == 2
    assert sorted(p.name for p in (tmp_path / "live").iterdir()) == \
        [items[0].arrival_name, items[2].arrival_name]
