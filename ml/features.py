"""Feature sources: the finished inference jobs whose per-item vectors other tools read.

The contract every inference kind keeps: its result names its files under ``files``, with
``item_ids`` (int64, one per row) and at least one of ``latents`` (autoencoder) or
``features`` (classifier penultimate layer); a classifier adds ``probabilities`` (one column
per entry of ``result["label_ids"]``, the inferred data set's class of each of the model's
classes ``result["label_names"]``, or None where it has none: ``ml.class_mapping``).
Rows for items that arrived after a job ran are appended to it as chunks
(``ml.feature_chunks``); the loaders here return them after the job's own rows.
Similarity, uncertainty and the explorer read jobs only through this module. numpy-level
only: the web process imports it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Job
from errors import DomainError
from ml.feature_chunks import first_rows, newest_number, read_chunks

VECTOR_KEYS = ("features", "latents")


@dataclass(frozen=True)
class FeatureSource:
    job_id: int
    kind: str
    dataset_id: int
    items: int
    dimension: int
    has_probabilities: bool

    @property
    def title(self) -> str:
        extra = ", probabilities" if self.has_probabilities else ""
        return f"job {self.job_id} · {self.kind} · {self.items} items × {self.dimension}{extra}"


def _vector_key(job: Job) -> Optional[str]:
    files = (job.result or {}).get("files", {})
    return next((key for key in VECTOR_KEYS if key in files), None)


def _source_of(job: Job) -> FeatureSource:
    result = job.result or {}
    return FeatureSource(job_id=job.id, kind=job.kind, dataset_id=job.dataset_id,
                         items=int(result.get("items", 0)),
                         dimension=int(result.get("latent_dim") or result.get("feature_dim") or 0),
                         has_probabilities="probabilities" in result.get("files", {}))


def feature_sources(session: Session, dataset_id: int,
                    with_probabilities: bool = False) -> list[FeatureSource]:
    """Finished inference jobs of a data set that stored per-item vectors, newest first."""
    jobs = session.scalars(select(Job).where(Job.dataset_id == dataset_id,
                                             Job.status == "succeeded")
                           .order_by(Job.id.desc()))
    sources = [_source_of(job) for job in jobs if _vector_key(job)]
    return [s for s in sources if s.has_probabilities or not with_probabilities]


def feature_job(session: Session, job_id: int, dataset_id: Optional[int] = None,
                field: str = "feature_job_id") -> Job:
    """The finished job ``job_id`` that holds feature vectors, or a DomainError naming ``field``."""
    job = session.get(Job, job_id)
    if job is None or job.status != "succeeded" or not _vector_key(job):
        raise DomainError(f"{field}: job {job_id} is not a finished inference job with feature "
                          "vectors; run autoencoder_infer or classifier_infer first", field)
    if dataset_id is not None and job.dataset_id != dataset_id:
        raise DomainError(f"{field}: job {job_id} belongs to data set {job.dataset_id}, "
                          f"not {dataset_id}", field)
    return job


def write_features(folder: Path, item_ids: list[int], features: np.ndarray) -> dict:
    """Store a feature job's vectors in this contract; the part of its result naming them."""
    np.save(Path(folder) / "features.npy", np.asarray(features, np.float32))
    np.save(Path(folder) / "item_ids.npy", np.asarray(item_ids, np.int64))
    return {"items": len(item_ids), "feature_dim": int(np.shape(features)[1]),
            "files": {"features": "features.npy", "item_ids": "item_ids.npy"}}


def _artifact(job: Job, key: str) -> Path:
    return Path(job.artifact_dir) / job.result["files"][key]


def _with_chunks(job: Job, keys: tuple[str, ...]) -> list[np.ndarray]:
    """The job's arrays ``keys`` (``item_ids`` first): its own rows followed by the rows
    appended for items that arrived later (ml.feature_chunks); an item appended twice by
    racing writers keeps its first row."""
    own = [np.load(_artifact(job, key), mmap_mode="r" if key in VECTOR_KEYS else None)
           for key in keys]
    chunks = read_chunks(job.artifact_dir, keys)
    if not chunks[0]:
        return own
    joined = {key: np.concatenate([first, *parts])
              for key, first, parts in zip(keys, own, chunks)}
    return list(first_rows(joined).values())


def feature_version(job: Job) -> tuple:
    """What tells cached results of a feature job apart: the job (its finish time too,
    since SQLite may give a deleted job's id to the next job) and the newest chunk of rows
    appended to it since."""
    return job.id, str(job.finished_at), newest_number(job.artifact_dir)


def feature_item_ids(job: Job) -> np.ndarray:
    """The item ids a feature job holds rows for, appended ones included."""
    return _with_chunks(job, ("item_ids",))[0].astype(np.int64, copy=False)


def load_vectors(job: Job) -> tuple[np.ndarray, np.ndarray]:
    """(item ids int64, vectors float32) of a feature job, appended rows included;
    memory-mapped where possible."""
    item_ids, vectors = _with_chunks(job, ("item_ids", _vector_key(job)))
    return item_ids.astype(np.int64, copy=False), vectors


def load_probabilities(job: Job, field: str = "inference_job_id"
                       ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(item_ids, probabilities N×C, label_ids of the columns: None for a class of the
    model that the data set lacks) of a classifier inference job, appended rows included."""
    if "probabilities" not in (job.result or {}).get("files", {}):
        raise DomainError(f"{field}: job {job.id} has no class probabilities; use a finished "
                          "classifier_infer job", field)
    item_ids, probabilities = _with_chunks(job, ("item_ids", "probabilities"))
    return item_ids.astype(np.int64, copy=False), probabilities, list(job.result["label_ids"])


def rows_of(values: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows of ``values`` holding ``wanted``, which of ``wanted`` were found): the id look-up
    between a job's item order and any other list of item ids."""
    order = np.argsort(values, kind="stable")
    at = np.minimum(np.searchsorted(values, wanted, sorter=order), max(len(values) - 1, 0))
    rows = order[at] if len(values) else at
    found = values[rows] == wanted if len(values) else np.zeros(len(wanted), bool)
    return rows, found
