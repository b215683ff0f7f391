"""The ``scattering_features`` job kind: per-item features of scattering patterns around
their own beam centre (ml.scattering_features), with no training, so a data set has
useful similarity pages and suggestions minutes after it is registered.

Files: features.npy (float32 n × FEATURE_DIM, as normal scores of their ranks over the
data set) and item_ids.npy, in the ml.features contract; unreadable items are left out.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from data.catalog import source_of
from data.sources.base import UnreadableImage
from ml.kinds.context import JobContext
from ml.kinds.spec import JobCancelled, JobKind, register_kind
from ml.params import Param, params_checker
from ml.scattering_features import (FEATURE_DIM, WORK_SIDE, scattering_features,
                                    to_normal_scores)

# Read at twice the working side: binning 2 × 2 then averages the counting noise.
READ_SIDE = 2 * WORK_SIDE
SPEC = {"batch_size": Param(int, 256, 1, 100_000)}


def run_scattering_features(context: JobContext) -> dict[str, Any]:
    items = context.items()
    source = source_of(context.dataset)
    path = context.artifact_dir / "features.npy"
    features = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                         shape=(len(items), FEATURE_DIM))
    kept: list[int] = []
    batch = context.params["batch_size"]
    for start in range(0, len(items), batch):
        if context.should_stop():
            raise JobCancelled()
        for item in items[start:start + batch]:
            try:
                image = source.read(item.path, item.frame, max_size=READ_SIDE)
            except UnreadableImage:
                continue
            features[len(kept)] = scattering_features(image)
            kept.append(item.id)
        context.report(min(start + batch, len(items)) / max(len(items), 1))
    features.flush()
    del features
    if len(kept) < len(items):  # rewrite without the rows of unreadable items
        trimmed = path.with_name("features-trimmed.npy")
        np.save(trimmed, np.load(path, mmap_mode="r")[:len(kept)])
        os.replace(trimmed, path)
    stored = np.load(path, mmap_mode="r+")
    to_normal_scores(stored)
    stored.flush()
    np.save(context.artifact_dir / "item_ids.npy", np.asarray(kept, np.int64))
    unreadable = len(items) - len(kept)
    context.log(f"{len(kept)} items, {unreadable} unreadable")
    return {"items": len(kept), "feature_dim": FEATURE_DIM, "unreadable": unreadable,
            "files": {"features": "features.npy", "item_ids": "item_ids.npy"}}


register_kind(JobKind(
    name="scattering_features", queue="cpu", run=run_scattering_features,
    check_params=params_checker(SPEC),
    description="features of scattering patterns around their beam centre: radial profile, "
                "azimuthal harmonics, peaks; no training (features.npy, item_ids.npy)"))
