"""The ``dataset_stats`` job kind: per-item mean, min and max of the raw frames."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from data.catalog import source_of
from data.sources.base import UnreadableImage
from ml.kinds.context import JobContext
from ml.kinds.spec import JobCancelled, JobKind, register_kind
from ml.params import Param, params_checker


def _frame_stats(source, path: str, frame: int) -> tuple[float, float, float]:
    try:
        values = source.read(path, frame)
    except UnreadableImage:
        return (np.nan, np.nan, np.nan)
    return (float(values.mean()), float(values.min()), float(values.max()))


def run_dataset_stats(context: JobContext) -> dict[str, Any]:
    items = context.items(readable_only=False)
    source = source_of(context.dataset)
    batch_size, delay = context.params["batch_size"], context.params["delay_per_item"]
    stats = np.full((len(items), 3), np.nan)
    for start in range(0, len(items), batch_size):
        if context.should_stop():
            raise JobCancelled()
        for index in range(start, min(start + batch_size, len(items))):
            stats[index] = _frame_stats(source, items[index].path, items[index].frame)
            time.sleep(delay)
        done = min(start + batch_size, len(items))
        context.report(done / len(items), {"items": done})
    np.save(context.artifact_dir / "stats.npy", stats)
    np.save(context.artifact_dir / "item_ids.npy", np.array([i.id for i in items], np.int64))
    unreadable = int(np.isnan(stats[:, 0]).sum())
    context.log(f"{len(items)} items, {unreadable} unreadable")
    return {"items": len(items), "unreadable": unreadable, "columns": ["mean", "min", "max"],
            "files": {"stats": "stats.npy", "item_ids": "item_ids.npy"}}


register_kind(JobKind(
    name="dataset_stats", queue="cpu", run=run_dataset_stats,
    description="per-item mean, min and max of the raw frames (stats.npy, item_ids.npy)",
    check_params=params_checker({
        "batch_size": Param(int, 64, 1, 10_000),
        # Slows the job down on purpose (tests of cancel and of a killed worker).
        "delay_per_item": Param(float, 0.0, 0.0, 10.0),
    })))
