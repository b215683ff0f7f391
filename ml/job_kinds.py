"""The registry of job kinds: what each job checks, which queue it runs on, what it does.

Adding a kind is one entry in ``JOB_KINDS``: a :class:`JobKind` with a parameter checker
(the normalised parameters, or a DomainError naming ``params.<field>``) and a ``run``
function that gets a ``ml.jobs.JobContext`` and returns the result dict stored on the row.
Nothing here touches CUDA: heavy imports belong inside ``run``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import numpy as np
from sqlalchemy import select

from data.catalog import source_of
from data.sources.base import UnreadableImage
from db.models import Item
from errors import DomainError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ml.jobs import JobContext

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


@dataclass(frozen=True)
class Param:
    """One number parameter: its type, default and inclusive bounds."""

    type: type
    default: Any
    low: Optional[float] = None
    high: Optional[float] = None


@dataclass(frozen=True)
class Choice:
    """One of a few names; the first is the default."""

    options: tuple[str, ...]

    @property
    def default(self) -> str:
        return self.options[0]


@dataclass(frozen=True)
class Flag:
    """true or false."""

    default: bool = False


Spec = Union[Param, Choice, Flag]


def params_checker(spec: dict[str, Spec]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A ``check_params`` for number, choice and flag parameters described by ``spec``."""

    def check(params: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(params) - set(spec))
        if unknown:
            raise DomainError(f"params.{unknown[0]} is not a parameter of this job; use "
                              f"{', '.join(sorted(spec))}", f"params.{unknown[0]}")
        return {name: _checked(name, param, params.get(name, param.default))
                for name, param in spec.items()}

    return check


def _checked(name: str, param: Spec, value: Any) -> Any:
    field = f"params.{name}"
    if isinstance(param, Choice):
        if value not in param.options:
            raise DomainError(f"{field} must be one of {', '.join(param.options)} (got {value!r})",
                              field)
        return value
    if isinstance(param, Flag):
        if not isinstance(value, bool):
            raise DomainError(f"{field} must be true or false (got {value!r})", field)
        return value
    # bool is an int in Python, but true is no batch size.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            param.type is int and not float(value).is_integer()):
        raise DomainError(f"{field} must be {'an integer' if param.type is int else 'a number'} "
                          f"(got {value!r})", field)
    value = param.type(value)
    if (param.low is not None and value < param.low) or (
            param.high is not None and value > param.high):
        raise DomainError(f"{field} must be between {param.low} and {param.high} (got {value})",
                          field)
    return value


def get_kind(name: str) -> JobKind:
    if name not in JOB_KINDS:
        raise DomainError(f"kind '{name}' is unknown; use one of {', '.join(sorted(JOB_KINDS))}",
                          "kind")
    return JOB_KINDS[name]


# --- dataset_stats: per-item mean/min/max of the raw frames ----------------------------------

def _item_rows(context: "JobContext") -> list[tuple[int, str, int]]:
    with context.session_factory() as session:
        query = (select(Item.id, Item.path, Item.frame)
                 .where(Item.dataset_id == context.dataset.id)
                 .order_by(Item.sort_key))
        return [tuple(row) for row in session.execute(query)]


def _frame_stats(source, path: str, frame: int) -> tuple[float, float, float]:
    try:
        values = source.read(path, frame)
    except UnreadableImage:
        return (np.nan, np.nan, np.nan)
    return (float(values.mean()), float(values.min()), float(values.max()))


def run_dataset_stats(context: "JobContext") -> dict[str, Any]:
    rows = _item_rows(context)
    source = source_of(context.dataset)
    batch_size, delay = context.params["batch_size"], context.params["delay_per_item"]
    stats = np.full((len(rows), 3), np.nan)
    for start in range(0, len(rows), batch_size):
        if context.should_stop():
            raise JobCancelled()
        for index in range(start, min(start + batch_size, len(rows))):
            _item_id, path, frame = rows[index]
            stats[index] = _frame_stats(source, path, frame)
            time.sleep(delay)
        done = min(start + batch_size, len(rows))
        context.report(done / len(rows), {"items": done})
    np.save(context.artifact_dir / "stats.npy", stats)
    np.save(context.artifact_dir / "item_ids.npy", np.array([r[0] for r in rows], np.int64))
    unreadable = int(np.isnan(stats[:, 0]).sum())
    context.log(f"{len(rows)} items, {unreadable} unreadable")
    return {"items": len(rows), "unreadable": unreadable, "columns": ["mean", "min", "max"],
            "files": {"stats": "stats.npy", "item_ids": "item_ids.npy"}}


JOB_KINDS: dict[str, JobKind] = {
    "dataset_stats": JobKind(
        name="dataset_stats", queue="cpu", run=run_dataset_stats,
        description="per-item mean, min and max of the raw frames (stats.npy, item_ids.npy)",
        check_params=params_checker({
            "batch_size": Param(int, 64, 1, 10_000),
            # Slows the job down on purpose (tests of cancel and of a killed worker).
            "delay_per_item": Param(float, 0.0, 0.0, 10.0),
        })),
}

# Imported here, below the names it uses from this module (it imports them back).
from ml.autoencoder_jobs import (check_infer_model, check_infer_params,  # noqa: E402
                                 check_train_params, run_autoencoder_infer,
                                 run_autoencoder_train)

JOB_KINDS["autoencoder_train"] = JobKind(
    name="autoencoder_train", queue="gpu", run=run_autoencoder_train,
    check_params=check_train_params,
    description="train a convolutional autoencoder on the data set's images (model.pt)")
JOB_KINDS["autoencoder_infer"] = JobKind(
    name="autoencoder_infer", queue="gpu", run=run_autoencoder_infer,
    check_params=check_infer_params, check_dataset=check_infer_model,
    description="latent vectors and reconstruction errors of every item "
                "(latents.npy, item_ids.npy, errors.npy)")

from ml.classifier_jobs import (check_infer_dataset, check_train_dataset,  # noqa: E402
                                run_classifier_infer, run_classifier_train)
from ml.classifier_jobs import check_infer_params as check_classifier_infer_params  # noqa: E402
from ml.classifier_jobs import check_train_params as check_classifier_train_params  # noqa: E402

JOB_KINDS["classifier_train"] = JobKind(
    name="classifier_train", queue="gpu", run=run_classifier_train,
    check_params=check_classifier_train_params, check_dataset=check_train_dataset,
    description="train a timm image classifier on the data set's labels (model.pt, "
                "per-epoch metrics, validation confusion matrix)")
JOB_KINDS["classifier_infer"] = JobKind(
    name="classifier_infer", queue="gpu", run=run_classifier_infer,
    check_params=check_classifier_infer_params, check_dataset=check_infer_dataset,
    description="class probabilities and penultimate-layer features of every item "
                "(probabilities.npy, features.npy, item_ids.npy)")

from ml.projection_jobs import (check_projection_dataset,  # noqa: E402
                                check_projection_params, run_projection)

JOB_KINDS["projection"] = JobKind(
    name="projection", queue="cpu", run=run_projection, check_params=check_projection_params,
    check_dataset=check_projection_dataset,
    description="PCA or UMAP map of a feature job's vectors, optionally clustered "
                "(points.npy, item_ids.npy, clusters.npy, images.npy for heat maps)")
