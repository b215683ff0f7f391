"""What a job kind's ``run`` gets: its parameters, data set, folder, items and reporting.

The ``jobs`` row is the only channel between a running job and the web app: progress,
metrics and the cancel flag go through it (``db.jobs``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Container, Iterator, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from data.catalog import source_of
from data.local_copy import LocalCopySource
from data.sources.base import DataSource
from data.transforms import Transform
from db import jobs as job_store
from db.models import Dataset, Item
from db.session import transaction

CANCEL_POLL_SECONDS = 1.0
LOG_NAME = "job.log"
TRAINING_COPIES = "training-copies"  # next to the job folders: copies of remote data sets
# A remote frame is read strided on its server down to this many times the model's input
# side (at least), then resized with area weighting: the network carries a fraction of the
# pixels, and enough are left that the resize still averages over several per output pixel.
REMOTE_READ_OVERSAMPLING = 2


@dataclass
class JobContext:
    job_id: int
    kind: str
    params: dict[str, Any]
    dataset: Optional[Dataset]
    artifact_dir: Path
    session_factory: sessionmaker[Session]
    _last_poll: float = field(default=0.0, repr=False)
    _stop: bool = field(default=False, repr=False)

    def report(self, progress: float, metrics_row: Optional[dict[str, Any]] = None) -> None:
        """Progress in [0, 1] and, once per epoch or batch, a row of metrics."""
        with transaction(self.session_factory) as session:
            job_store.report_progress(session, self.job_id, progress, metrics_row)

    def should_stop(self) -> bool:
        """Whether the job was asked to stop (reads the database at most once a second)."""
        now = time.monotonic()
        if not self._stop and now - self._last_poll >= CANCEL_POLL_SECONDS:
            self._last_poll = now
            with self.session_factory() as session:
                self._stop = job_store.cancel_requested(session, self.job_id)
        return self._stop

    def items(self, readable_only: bool = True,
              only: Optional[Container[int]] = None) -> list[Item]:
        """The data set's items in file order: the readable ones unless told otherwise,
        and only those whose ids are in ``only`` when it is given."""
        query = select(Item).where(Item.dataset_id == self.dataset.id).order_by(Item.sort_key)
        if readable_only:
            query = query.where(Item.status != "unreadable")
        with self.session_factory() as session:
            return [item for item in session.scalars(query) if only is None or item.id in only]

    @property
    def _remote(self) -> bool:
        return self.dataset.source_kind != "directory"

    def training_source(self) -> DataSource:
        """The data set's source for training: frames of a remote (Tiled) data set are
        copied into the artifacts folder once and read locally by every later run."""
        source = source_of(self.dataset)
        if not self._remote:
            return source
        copies = self.artifact_dir.parent / TRAINING_COPIES / f"dataset-{self.dataset.id}"
        return LocalCopySource(source, copies)

    def read_side(self, image_size: tuple[int, int]) -> Optional[int]:
        """How large a frame to read for a model of ``image_size``: reduced on the server
        for a remote data set (training and inference alike, so both see the same
        pixels), the whole frame from local files."""
        return REMOTE_READ_OVERSAMPLING * max(image_size) if self._remote else None

    def load_images(self, items: list[Item], image_size: tuple[int, int],
                    transform: Transform, for_training: bool = True):
        """``items`` as one ml.image_data.LoadedImages, read through the training copy
        (``for_training``) or straight from the data set (a few items to show)."""
        from ml.image_data import load_images  # torch: only when a job runs

        source = self.training_source() if for_training else source_of(self.dataset)
        return load_images(source, items, image_size, transform, self.read_side(image_size))

    def batches(self, items: list[Item], image_size: tuple[int, int], transform: Transform,
                batch_size: int, on_failure: Optional[Callable[[int, str], None]] = None
                ) -> Iterator[tuple[list[int], Any]]:
        """Inference batches (item ids, image tensor) of ``items`` streamed from the data set
        (no copy is kept), reporting the share of items read as the job's progress."""
        from ml.image_data import iter_batches  # torch: only when a job runs

        done = 0
        for ids, batch in iter_batches(source_of(self.dataset), items, image_size, transform,
                                       batch_size, on_failure=on_failure,
                                       read_side=self.read_side(image_size)):
            done += len(ids)
            self.report(done / max(len(items), 1))
            yield ids, batch

    def log(self, message: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        with open(self.artifact_dir / LOG_NAME, "a", encoding="utf-8") as log_file:
            log_file.write(f"{stamp} {message}\n")
