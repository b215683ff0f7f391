"""The model library: every succeeded job of a kind that produces a model
(``JobKind.produces_model``: autoencoder_train, classifier_train) is a model, and its id is
the job's id. Everything about a model is read from its job row and artifact folder; only
what a user writes about it (name, description) is stored apart, in ``model_cards``.

Plain functions over an open session (the caller owns the transaction): list the models,
one model's facts, rename or describe one, delete one (its job and files, through
``db.jobs.delete_job``). Who may change a model is the web layer's check (job owners).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Optional, Union

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import jobs as job_store
from db.lookups import dataset_names
from db.models import Job, ModelCard, utcnow
from db.store import get_dataset
from errors import DomainError
from ml.kinds import JOB_KINDS
from ml.kinds.autoencoder import SPEC_FIELDS as AUTOENCODER_FIELDS

NAME_MAX = 100
DESCRIPTION_MAX = 2000
# Per-epoch numbers that describe the run, not the model.
NOT_METRICS = ("seconds",)


def model_kinds() -> list[str]:
    """The job kinds whose succeeded jobs are models."""
    return sorted(name for name, kind in JOB_KINDS.items() if kind.produces_model)


def _autoencoder_architecture(params: dict[str, Any]) -> dict[str, Any]:
    return {name: params[name] for name in AUTOENCODER_FIELDS}


def _classifier_architecture(params: dict[str, Any]) -> dict[str, Any]:
    # pretrained: it started from weights learnt elsewhere (a weights file, or a model of
    # the library when fine-tuned) rather than from random ones
    return {"model": params["model"], "image_size": params["image_size"],
            "pretrained": bool(params.get("weights_path") or params.get("init_model")),
            "freeze_backbone": bool(params.get("freeze_backbone"))}


# The network of each model kind, from its job's parameters (tests check every model kind
# has one).
ARCHITECTURES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "autoencoder_train": _autoencoder_architecture,
    "classifier_train": _classifier_architecture,
}


@dataclass(frozen=True)
class BuiltOn:
    """A job whose parameters name the model (an inference, a fine-tuning...)."""
    id: int
    kind: str
    status: str
    dataset_id: Optional[int]


@dataclass(frozen=True)
class ModelFacts:
    id: int  # the training job's id
    name: str
    description: str
    kind: str
    architecture: dict[str, Any]
    parameters: dict[str, Any]  # the training job's checked parameters
    dataset_id: Optional[int]
    dataset_name: Optional[str]
    # The last tagging event of the labels it learnt from; None: it learnt from the images
    # alone (an autoencoder), or its job did not record it.
    learned_from_event_id: Optional[int]
    class_names: Optional[list[str]]  # a classifier's classes, in its output order
    metrics: dict[str, Union[int, float]]  # of the epoch whose weights the model kept
    size_bytes: int  # its artifact folder
    owner: str
    created_at: datetime
    finished_at: Optional[datetime]
    built_on: Optional[list[BuiltOn]] = None  # filled for one model (model_facts), not lists


def default_name(job: Job) -> str:
    """The name of a model nobody named: its kind and number, e.g. 'autoencoder #12'."""
    return f"{job.kind.removesuffix('_train')} #{job.id}"


def model_job(session: Session, model_id: int) -> Job:
    """The job that is model ``model_id``; a 404 DomainError saying why there is none."""
    job = session.get(Job, model_id)
    if job is None:
        raise DomainError(f"model {model_id} does not exist", "model_id", status=404)
    kinds = model_kinds()
    if job.kind not in kinds:
        raise DomainError(f"job {model_id} is a {job.kind} job, not a model: models are the "
                          f"succeeded jobs of {', '.join(kinds)}", "model_id", status=404)
    if job.status != "succeeded":
        raise DomainError(f"job {model_id} ({job.kind}) is {job.status}, not a model: a "
                          "training job becomes a model when it succeeds", "model_id",
                          status=404)
    return job


def final_metrics(job: Job) -> dict[str, Union[int, float]]:
    """The numbers of the epoch whose weights the model kept (its best; the last when the
    job names none), with that epoch and how many were run."""
    rows = [row for row in job.metrics if isinstance(row, dict)]
    best = (job.result or {}).get("best_epoch")
    kept = next((row for row in rows if row.get("epoch") == best), rows[-1] if rows else {})
    numbers = {name: value for name, value in kept.items()
               if isinstance(value, (int, float)) and not isinstance(value, bool)
               and name not in NOT_METRICS}
    return {**numbers, "epochs": len(rows)} if rows else numbers


def _facts(job: Job, card: Optional[ModelCard], names: dict[int, str],
           built_on: Optional[list[Job]] = None) -> ModelFacts:
    result = job.result or {}
    return ModelFacts(
        id=job.id, name=card.name if card else default_name(job),
        description=card.description if card else "", kind=job.kind,
        architecture=ARCHITECTURES[job.kind](job.params), parameters=dict(job.params),
        dataset_id=job.dataset_id, dataset_name=names.get(job.dataset_id),
        learned_from_event_id=result.get("trained_on_event_id"),
        class_names=result.get("label_names"), metrics=final_metrics(job),
        size_bytes=job_store.artifact_contents(job)[1], owner=job.owner,
        created_at=job.created_at, finished_at=job.finished_at,
        built_on=None if built_on is None else [
            BuiltOn(other.id, other.kind, other.status, other.dataset_id)
            for other in built_on])


def _cards(session: Session, job_ids: list[int]) -> dict[int, ModelCard]:
    if not job_ids:
        return {}
    cards = session.scalars(select(ModelCard).where(ModelCard.job_id.in_(job_ids)))
    return {card.job_id: card for card in cards}


def list_models(session: Session, kind: Optional[str] = None,
                dataset_id: Optional[int] = None) -> list[ModelFacts]:
    """The models, newest first, of one kind and of one data set when given."""
    kinds = model_kinds()
    if kind is not None and kind not in kinds:
        raise DomainError(f"kind '{kind}' makes no models; use one of {', '.join(kinds)}",
                          "kind")
    if dataset_id is not None:
        get_dataset(session, dataset_id)
    jobs = job_store.list_jobs(session, dataset_id, kinds=[kind] if kind else kinds,
                               statuses=["succeeded"])
    cards = _cards(session, [job.id for job in jobs])
    names = dict(dataset_names(session))
    return [_facts(job, cards.get(job.id), names) for job in jobs]


def model_facts(session: Session, model_id: int) -> ModelFacts:
    """Everything about one model, the jobs built on it included."""
    job = model_job(session, model_id)
    return _facts(job, session.get(ModelCard, model_id), dict(dataset_names(session)),
                  job_store.jobs_built_on(session, job))


def _checked_text(value: Any, field: str, longest: int, one_line: bool) -> str:
    if not isinstance(value, str):
        raise DomainError(f"{field} must be text", field)
    text = value.strip()
    if "\x00" in text:
        raise DomainError(f"{field} contains a NUL character (\\u0000); remove it", field)
    if one_line and any(ord(character) < 32 for character in text):
        raise DomainError(f"{field} must be one line: remove its line breaks and tabs", field)
    if len(text) > longest:
        raise DomainError(f"{field} is {len(text):,} characters long; keep it to "
                          f"{longest:,}", field)
    return text


def describe_model(session: Session, model_id: int, name: Optional[str] = None,
                   description: Optional[str] = None) -> ModelFacts:
    """Rename a model and/or change its description (None: leave it); its new facts."""
    job = model_job(session, model_id)
    if name is None and description is None:
        raise DomainError("give a new name or description (or both)", "name")
    card = session.get(ModelCard, model_id) or ModelCard(job_id=model_id,
                                                         name=default_name(job),
                                                         description="")
    if name is not None:
        card.name = _checked_text(name, "name", NAME_MAX, one_line=True)
        if not card.name:
            raise DomainError("name is empty: a model needs a name (1 to "
                              f"{NAME_MAX} characters)", "name")
    if description is not None:
        card.description = _checked_text(description, "description", DESCRIPTION_MAX,
                                         one_line=False)
    card.updated_at = utcnow()
    session.add(card)
    session.flush()
    return model_facts(session, model_id)


def check_deletable(session: Session, model_id: int) -> Job:
    """The model's job, or a 409 DomainError while a job built on it waits or runs (it
    would lose the model under it)."""
    job = model_job(session, model_id)
    busy = [other for other in job_store.jobs_built_on(session, job)
            if other.status not in job_store.FINISHED]
    if busy:
        listed = ", ".join(f"#{other.id} ({other.kind}, {other.status})" for other in busy)
        raise DomainError(f"model {model_id} is in use by job{'s' if len(busy) > 1 else ''} "
                          f"{listed}; wait until they end or cancel them, then delete it",
                          "model_id", status=409)
    return job


def delete_model(session: Session, model_id: int) -> None:
    """Delete a model: its training job, artifact folder and card (``check_deletable``)."""
    check_deletable(session, model_id)
    job_store.delete_job(session, model_id)
