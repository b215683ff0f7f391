"""Rows appended to a feature job in chunks: small chunks are merged into one, readers see
every row exactly once while chunks are appended and merged under them."""
from __future__ import annotations

import threading

import numpy as np

from ml.feature_chunks import (LARGE_ROWS, MERGE_AT, append_chunk, chunk_folders,
                               merge_small_chunks, newest_number, read_chunks)


def rows(item_ids) -> dict[str, np.ndarray]:
    """A chunk whose vector of item i is (i, -i)."""
    ids = np.asarray(item_ids, np.int64)
    return {"item_ids": ids, "features": np.stack([ids, -ids], axis=1).astype(np.float32)}


def read(folder) -> tuple[np.ndarray, np.ndarray]:
    item_ids, features = read_chunks(folder, ("item_ids", "features"))
    return np.concatenate(item_ids or [np.empty(0, np.int64)]), \
        np.concatenate(features or [np.empty((0, 2), np.float32)])


def test_small_chunks_are_merged_into_the_next_with_their_rows_in_order(tmp_path):
    for start in range(MERGE_AT - 1):
        append_chunk(tmp_path, rows([start * 2 + 1, start * 2 + 2]))
    assert merge_small_chunks(tmp_path) is None  # not yet enough of them
    before = read(tmp_path)
    append_chunk(tmp_path, rows([1000]))
    merged = merge_small_chunks(tmp_path)
    assert chunk_folders(tmp_path) == [merged]
    assert newest_number(tmp_path) == MERGE_AT + 1  # numbers only grow
    item_ids, features = read(tmp_path)
    np.testing.assert_array_equal(item_ids, [*before[0], 1000])
    np.testing.assert_array_equal(features, rows(item_ids)["features"])
    assert not list(tmp_path.rglob(".gone-*"))  # nothing left half deleted


def test_a_large_chunk_stays_and_only_the_small_ones_after_it_merge(tmp_path):
    append_chunk(tmp_path, rows([1, 2]))
    large = append_chunk(tmp_path, rows(np.arange(10, 10 + LARGE_ROWS)))
    for item_id in range(MERGE_AT):
        append_chunk(tmp_path, rows([100_000 + item_id]))
    merged = merge_small_chunks(tmp_path)
    assert [folder.name for folder in chunk_folders(tmp_path)][1:] == [large.name, merged.name]
    assert len(read(tmp_path)[0]) == 2 + LARGE_ROWS + MERGE_AT


def test_an_item_appended_twice_keeps_its_first_row_when_merged(tmp_path):
    append_chunk(tmp_path, rows([5, 6]))
    append_chunk(tmp_path, {"item_ids": np.array([6, 7]),
                            "features": np.array([[9, 9], [7, -7]], np.float32)})
    for item_id in range(8, 8 + MERGE_AT):
        append_chunk(tmp_path, rows([item_id]))
    merge_small_chunks(tmp_path)
    item_ids, features = read(tmp_path)
    np.testing.assert_array_equal(item_ids, np.arange(5, 8 + MERGE_AT))
    np.testing.assert_array_equal(features, rows(item_ids)["features"])  # 6 kept (6, -6)


def test_readers_see_whole_consistent_rows_while_chunks_are_appended_and_merged(tmp_path):
    stop, problems, reads = threading.Event(), [], [0]

    def reader():
        while not stop.is_set():
            try:
                item_ids, features = read(tmp_path)
            except Exception as error:  # noqa: BLE001 - a reader that fails is the finding
                problems.append(error)
                return
            unique = np.unique(item_ids)
            # rows of an item may show twice for a moment (merged and not yet removed),
            # never torn: every row is its item's, and no item appended before is lost
            if not np.array_equal(features, rows(item_ids)["features"]) or \
                    (len(unique) and not np.array_equal(unique, np.arange(1, len(unique) + 1))):
                problems.append(item_ids)
            reads[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for item_id in range(1, 3 * MERGE_AT + 1):
            append_chunk(tmp_path, rows([item_id]))
            merge_small_chunks(tmp_path)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not problems and reads[0] > 0
    np.testing.assert_array_equal(np.unique(read(tmp_path)[0]), np.arange(1, 3 * MERGE_AT + 1))
