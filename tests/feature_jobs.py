"""Finished inference jobs made by hand: a job row plus the .npy files of the ml.features
contract, so similarity and probability code reads them through the real path."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from db import jobs as job_store
from db.models import Job
from db.session import transaction
from ml.jobs import create_job, execute_job


def make_feature_job(session_factory, dataset_id: int, folder: Path, item_ids: Sequence[int],
                     vectors: np.ndarray, probabilities: Optional[np.ndarray] = None,
                     label_ids: Sequence[int] = ()) -> int:
    """A succeeded ``autoencoder_infer`` job (or ``classifier_infer`` when ``probabilities``
    are given) whose artifact folder holds these arrays; returns its id."""
    kind = "classifier_infer" if probabilities is not None else "autoencoder_infer"
    with transaction(session_factory) as session:
        job = Job(kind=kind, dataset_id=dataset_id, params={}, owner="tester",
                  status="running", metrics=[], result={})
        session.add(job)
        session.flush()
        artifacts = folder / f"job-{job.id}"
        artifacts.mkdir(parents=True)
        job.artifact_dir = str(artifacts)
        np.save(artifacts / "item_ids.npy", np.asarray(item_ids, dtype=np.int64))
        vector_key = "features" if probabilities is not None else "latents"
        np.save(artifacts / f"{vector_key}.npy", np.asarray(vectors, dtype=np.float32))
        files = {"item_ids": "item_ids.npy", vector_key: f"{vector_key}.npy"}
        result = {"items": len(item_ids), "files": files,
                  ("feature_dim" if probabilities is not None else "latent_dim"):
                      int(np.asarray(vectors).shape[1])}
        if probabilities is not None:
            np.save(artifacts / "probabilities.npy", np.asarray(probabilities, np.float32))
            files["probabilities"] = "probabilities.npy"
            result["label_ids"] = [int(i) for i in label_ids]
        job_store.finish(session, job.id, "succeeded", result=result)
        return job.id


def make_model_job(session_factory, inference_job_id: int, folder: Path,
                   trained_on_event_id: Optional[int],
                   validation_item_ids: Optional[Sequence[int]] = None) -> int:
    """A succeeded ``classifier_train`` job recording what it learnt from (the last tagging
    event of its labels, and its validation items when given) behind the inference job;
    returns its id."""
    with transaction(session_factory) as session:
        inference = session.get(Job, inference_job_id)
        job = Job(kind="classifier_train", dataset_id=inference.dataset_id, params={},
                  owner="tester", status="running", metrics=[], result={})
        session.add(job)
        session.flush()
        artifacts = folder / f"job-{job.id}"
        artifacts.mkdir(parents=True)
        job.artifact_dir = str(artifacts)
        result = {"trained_on_event_id": trained_on_event_id}
        if validation_item_ids is not None:
            np.save(artifacts / "validation_item_ids.npy",
                    np.asarray(validation_item_ids, np.int64))
            result["validation_items"] = "validation_item_ids.npy"
        job_store.finish(session, job.id, "succeeded", result=result)
        inference.params = {**(inference.params or {}), "model_job_id": job.id}
        return job.id


def run_job(session_factory, artifacts: Path, kind: str, dataset_id: int, params: dict) -> Job:
    """A job of ``kind`` created and run in this process; it must succeed."""
    with transaction(session_factory) as session:
        job_id = create_job(session, kind, dataset_id, params, "tester").id
    execute_job(session_factory, artifacts, job_id)
    with session_factory() as session:
        job = job_store.get_job(session, job_id)
    assert job.status == "succeeded", job.error
    return job
