"""The ``scattering_features`` job kind: per-item features of scattering patterns around
their own beam centre (ml.scattering_features), with no training, so a data set has
useful similarity pages and suggestions minutes after it is registered.

Files: features.npy (float32 n × FEATURE_DIM, as normal scores of their ranks over the
data set) and item_ids.npy, in the ml.features contract; unreadable items are left out.
reference.npy keeps the raw features, sorted per column, so that items arriving later are
scored against the same data set.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from data.catalog import source_of
from data.sources.base import UnreadableImage
from errors import DomainError
from ml.kinds.context import JobContext
from ml.kinds.spec import Extension, JobCancelled, JobKind, register_kind
from ml.params import Param, params_checker
from ml.scattering_features import (FEATURE_DIM, WORK_SIDE, normal_scores_against,
                                    scattering_features, to_normal_scores)

# Read at twice the working side: binning 2 × 2 then averages the counting noise.
READ_SIDE = 2 * WORK_SIDE
SPEC = {"batch_size": Param(int, 256, 1, 100_000)}
# Each raw feature's values over the data set, sorted: what new items are scored against.
REFERENCE_FILE = "reference.npy"


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
        for item_id, vector in _raw_features(source, items[start:start + batch]):
            features[len(kept)] = vector
            kept.append(item_id)
        context.report(min(start + batch, len(items)) / max(len(items), 1))
    features.flush()
    del features
    if len(kept) < len(items):  # rewrite without the rows of unreadable items
        trimmed = path.with_name("features-trimmed.npy")
        np.save(trimmed, np.load(path, mmap_mode="r")[:len(kept)])
        os.replace(trimmed, path)
    stored = np.load(path, mmap_mode="r+")
    np.save(context.artifact_dir / REFERENCE_FILE, np.sort(stored, axis=0))
    to_normal_scores(stored)
    stored.flush()
    np.save(context.artifact_dir / "item_ids.npy", np.asarray(kept, np.int64))
    unreadable = len(items) - len(kept)
    context.log(f"{len(kept)} items, {unreadable} unreadable")
    return {"items": len(kept), "feature_dim": FEATURE_DIM, "unreadable": unreadable,
            "reference": REFERENCE_FILE,
            "files": {"features": "features.npy", "item_ids": "item_ids.npy"}}


def _raw_features(source, items) -> Iterator[tuple[int, np.ndarray]]:
    """(item id, raw feature vector) of each readable item of ``items``."""
    for item in items:
        try:
            image = source.read(item.path, item.frame, max_size=READ_SIDE)
        except UnreadableImage:
            continue
        yield item.id, scattering_features(image)


def check_extendable(_session, job) -> None:
    if not (job.result or {}).get("reference"):
        raise DomainError(f"params.feature_job_id: job {job.id} cannot take new items: it "
                          "was made before scattering_features kept the data set's raw "
                          f"features ({REFERENCE_FILE}) that new items are scored against; "
                          "run scattering_features again", "params.feature_job_id")


def extension_rows(context: JobContext, job, items) -> dict[str, Any]:
    """Features of ``items``, each scored as if the job had run over its items plus that
    one (ml.scattering_features.normal_scores_against)."""
    rows = list(_raw_features(source_of(context.dataset), items))
    raw = np.array([vector for _item_id, vector in rows], np.float32).reshape(-1, FEATURE_DIM)
    reference = np.load(Path(job.artifact_dir) / job.result["reference"], mmap_mode="r")
    return {"item_ids": np.array([item_id for item_id, _vector in rows], np.int64),
            "features": normal_scores_against(raw, reference)}


register_kind(JobKind(
    name="scattering_features", queue="cpu", run=run_scattering_features,
    check_params=params_checker(SPEC), extend=Extension(extension_rows, check_extendable),
    description="features of scattering patterns around their beam centre: radial profile, "
                "azimuthal harmonics, peaks; no training (features.npy, item_ids.npy)"))
