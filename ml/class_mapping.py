"""A classifier applied to a data set: its classes meet the data set's classes by name.

Each column of a classifier inference's probabilities belongs to one of the model's classes;
it maps to the inferred data set's active class of the same name (names are compared
exactly, as the label store keeps them), or to none. A column without a class still shows
under the model's own class name wherever probabilities are shown, but is never used to
label. numpy-free and torch-free: the web process checks and creates classes with it before
a job is queued.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from sqlalchemy.orm import Session

from db.labels import create_label, list_labels
from db.models import Job
from errors import DomainError


def class_ids_by_name(session: Session, dataset_id: int) -> dict[str, int]:
    """{name: label id} of the data set's active classes."""
    return {label.name: label.id for label in list_labels(session, dataset_id)}


def column_label_ids(model_job: Job, dataset_id: int, class_ids: dict[str, int]
                     ) -> list[Optional[int]]:
    """Per column of ``model_job``'s classifier: the data set's class. On the data set it
    learnt from, the very classes it learnt (renamed since or not); elsewhere the active
    class of the model's class name, None where the data set has none."""
    result = model_job.result
    if model_job.dataset_id == dataset_id:
        return list(result["label_ids"])
    return [class_ids.get(name) for name in result["label_names"]]


def mapping_summary(model_names: Sequence[str], label_ids: Sequence[Optional[int]],
                    class_ids: dict[str, int]) -> dict[str, Any]:
    """What a job's result says of the mapping: the model's classes with a class of the data
    set, those without, and the data set's active classes the model does not know."""
    known = set(label_ids)
    return {"mapped": [name for name, label_id in zip(model_names, label_ids)
                       if label_id is not None],
            "missing": [name for name, label_id in zip(model_names, label_ids)
                        if label_id is None],
            "not_in_model": [name for name, label_id in class_ids.items()
                             if label_id not in known]}


def planned_mapping(session: Session, dataset_id: int, model_job: Job) -> dict[str, Any]:
    """The mapping an inference of ``model_job``'s classifier on the data set would have now
    (``mapping_summary``)."""
    class_ids = class_ids_by_name(session, dataset_id)
    return mapping_summary(model_job.result["label_names"],
                           column_label_ids(model_job, dataset_id, class_ids), class_ids)


def create_missing_classes(session: Session, dataset_id: int, model_job: Job) -> list[str]:
    """Add to the data set, in the model's order and with the next palette colours, the
    classes of ``model_job``'s classifier it lacks; their names. None on the data set the
    model learnt from: its columns are that data set's classes already."""
    if model_job.dataset_id == dataset_id:
        return []
    known = class_ids_by_name(session, dataset_id)
    missing = [name for name in model_job.result["label_names"] if name not in known]
    for name in missing:
        create_label(session, dataset_id, name)
    return missing


def unmapped_class_error(name: str, model_job_id: Optional[int], field: str) -> DomainError:
    model = f"model #{model_job_id}" if model_job_id is not None else "the model"
    return DomainError(f"class '{name}' of {model} is not a class of this data set; create it "
                       "or run with create_missing_classes", field)


@dataclass(frozen=True)
class ProbabilityColumns:
    """The columns of a classifier inference's probabilities: the model's class names and
    the inferred data set's class of each (None: the data set has no class of that name)."""

    label_ids: list[Optional[int]]
    names: list[str]
    model_job_id: Optional[int]

    def label_of_name(self, name: str, field: str) -> int:
        """The data set's class that the model's class ``name`` maps to; a DomainError
        naming ``field`` when the model has no such class or the data set lacks it."""
        if name not in self.names:
            raise DomainError(f"model #{self.model_job_id} has no class '{name}'; its classes "
                              f"are {', '.join(self.names)}", field)
        label_id = self.label_ids[self.names.index(name)]
        if label_id is None:
            raise unmapped_class_error(name, self.model_job_id, field)
        return label_id


def probability_columns(job: Job) -> ProbabilityColumns:
    """The columns of the classifier inference job ``job`` (its result's label_ids and
    label_names; a job without names shows its columns by label id)."""
    result = job.result or {}
    label_ids = list(result.get("label_ids") or [])
    names = list(result.get("label_names") or [f"class {label_id}" for label_id in label_ids])
    return ProbabilityColumns(label_ids, names, result.get("model_job_id"))
