"""The job-kind registry: what a kind is, the registry itself and the cancel signal.

This module imports no kind. Each kind module (``ml/kinds/<name>.py``) builds a
:class:`JobKind` and hands it to :func:`register_kind`; the package ``ml.kinds`` imports
the kind modules, so ``JOB_KINDS`` is complete once ``ml.kinds`` is imported. A kind has a
parameter checker (the normalised parameters, or a DomainError naming ``params.<field>``),
a file checker when it reads files a request names, and a ``run`` function that gets a
``ml.kinds.context.JobContext`` and returns the result dict stored on the row. Nothing here touches CUDA: heavy imports belong inside ``run``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from errors import DomainError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ml.kinds.context import JobContext

QUEUES = ("gpu", "cpu")


class JobCancelled(Exception):
    """Raised by a kind's ``run`` when ``context.should_stop()`` says so."""


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
