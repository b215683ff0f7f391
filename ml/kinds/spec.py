"""The job-kind registry: what a kind is, the registry itself and the cancel signal.

This module imports no kind. Each kind module (``ml/kinds/<name>.py``) builds a
:class:`JobKind` and hands it to :func:`register_kind`; the package ``ml.kinds`` imports
the kind modules, so ``JOB_KINDS`` is complete once ``ml.kinds`` is imported. A kind has a
parameter checker (the normalised parameters, or a DomainError naming ``params.<field>``),
a file checker when it reads files a request names, and a ``run`` function that gets a
``ml.kinds.context.JobContext`` and returns the result dict stored on the row; a feature
kind may have an :class:`Extension` that computes rows for items arriving later. Nothing
here touches CUDA: heavy imports belong inside ``run``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from errors import DomainError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from db.models import Item, Job
    from ml.kinds.context import JobContext

QUEUES = ("gpu", "cpu")


class JobCancelled(Exception):
    """Raised by a kind's ``run`` when ``context.should_stop()`` says so."""


@dataclass(frozen=True)
class Extension:
    """How a feature kind computes rows for items that arrived after one of its jobs ran,
    with that job's own model (``ml.kinds.live_features`` appends them to the job)."""

    # (the running live_features job's context, the finished feature job, the items in
    # file order): per-row arrays keyed like the job's result["files"]: "item_ids", its
    # vectors and, for a classifier, "probabilities"; unreadable items are left out
    rows: Callable[["JobContext", "Job", list["Item"]], dict[str, Any]]
    # (session, the feature job): a DomainError when this job cannot take new rows (e.g.
    # it was made before its kind kept what they need), so the request is refused
    check: Optional[Callable[["Session", "Job"], None]] = None


def check_model_kept(session: "Session", job: "Job", model_kind: str) -> None:
    """An Extension check: the finished ``model_kind`` job whose model made ``job`` (its
    params.model_job_id) must still be there to compute new rows."""
    from db.models import Job

    model_job_id = (job.params or {}).get("model_job_id")
    model_job = session.get(Job, model_job_id) if model_job_id else None
    if model_job is None or model_job.kind != model_kind or model_job.status != "succeeded":
        raise DomainError(f"params.feature_job_id: job {job.id} cannot take new items: the "
                          f"{model_kind} model that made it (job {model_job_id}) is gone; "
                          f"run {job.kind} again with a model", "params.feature_job_id")


@dataclass(frozen=True)
class JobKind:
    name: str
    queue: str  # "gpu" or "cpu"
    check_params: Callable[[dict[str, Any]], dict[str, Any]]
    run: Callable[["JobContext"], dict[str, Any]]
    needs_dataset: bool = True
    description: str = ""
    # (session, dataset id, checked params): raise DomainError when the data set is not ready
    # for this job (e.g. too few labels), so it is refused before it is queued.
    check_dataset: Optional[Callable[["Session", int, dict[str, Any]], None]] = None
    # (checked params, the folders a request may name files in): the params with the files
    # they name confined to those folders and checked, or a DomainError. Runs right after
    # check_params, which reads no file: a path is confined before anything opens it.
    check_files: Optional[Callable[[dict[str, Any], Sequence[Path]], dict[str, Any]]] = None
    # (checked params): the peak bytes the job is estimated to need (ml.memory_estimate)
    estimate_memory: Optional[Callable[[dict[str, Any]], float]] = None
    # Its succeeded jobs are models of the library (ml.model_library): a network saved in
    # the artifact folder that can be applied to data again.
    produces_model: bool = False
    # A feature kind whose finished jobs can take rows for new items (live data sets);
    # None: a job of this kind must be run again to cover them.
    extend: Optional[Extension] = None


# Filled by register_kind as ml.kinds imports its kind modules.
JOB_KINDS: dict[str, JobKind] = {}


def register_kind(kind: JobKind) -> JobKind:
    if kind.queue not in QUEUES:
        raise ValueError(f"job kind {kind.name}: queue must be one of {QUEUES}")
    if kind.name in JOB_KINDS:
        raise ValueError(f"job kind {kind.name} is registered twice")
    JOB_KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> JobKind:
    if name not in JOB_KINDS:
        raise DomainError(f"kind '{name}' is unknown; use one of {', '.join(sorted(JOB_KINDS))}",
                          "kind")
    return JOB_KINDS[name]
