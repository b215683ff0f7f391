"""A finished feature job that gains rows, as one of a live data set does when items
arrive: the rows are appended the way live feature jobs append them (ml.feature_chunks)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from db.models import Job
from ml.feature_chunks import append_chunk


def append_feature_rows(session_factory, job_id: int, item_ids: Sequence[int],
                        vectors: np.ndarray) -> None:
    """Rows for ``item_ids``, whole or not at all, after the job's own."""
    with session_factory() as session:
        job = session.get(Job, job_id)
        folder, files = job.artifact_dir, job.result["files"]
    vector_key = "features" if "features" in files else "latents"
    append_chunk(folder, {"item_ids": np.asarray(item_ids, dtype=np.int64),
                          vector_key: np.asarray(vectors, dtype=np.float32)})
