"""Starting a training run from an earlier model (fine-tuning): the ``init_model``
parameters, the refusal of a model that cannot start the run, and how a classifier's
classes carry over to another data set by name.

torch-free: the web process checks a job's ``init_model`` with it before queueing. The
weights themselves are loaded by ``ml.fine_tuning`` when the job runs.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Dataset, Job
from errors import DomainError
from ml.autoencoder_spec import AutoencoderSpec
from ml.params import Nullable, Param

FIELD = "params.init_model"
# A model starts a run of its own kind only, built alike: the fields that shape its tensors.
ARCHITECTURES = {
    "autoencoder_train": tuple(spec_field.name for spec_field in fields(AutoencoderSpec)),
    "classifier_train": ("model", "image_size"),
}
NOUNS = {"autoencoder_train": "an autoencoder", "classifier_train": "a classifier"}
FIELD_WORDS = {"image_size": "image size", "depth": "depth", "base_channels": "base channels",
               "latent_dim": "latent size", "model": "model"}
# With a model to start from, the pre-trained part (encoder, backbone) learns at this share
# of the learning rate unless the run says otherwise: large steps would undo what it knows.
DEFAULT_PRETRAINED_LR_SCALE = 0.1
# The number parameters every training kind that can start from a model takes; each kind
# adds the flag ``freeze_pretrained`` (default false) in its own way of declaring flags.
START_PARAMS = {
    "init_model": Nullable(Param(int, 0, 1, None)),
    "pretrained_lr_scale": Nullable(Param(float, DEFAULT_PRETRAINED_LR_SCALE, 1e-6, 1.0)),
}
CHOICES_SHOWN = 200  # the newest models offered by a form


def check_start_params(checked: dict[str, Any]) -> dict[str, Any]:
    """Checked training parameters with the pre-trained part's learning-rate factor filled
    in when the run starts from a model; freezing or scaling a pre-trained part without a
    model to start from is refused, naming the field."""
    if checked["init_model"] is None:
        for name in ("freeze_pretrained", "pretrained_lr_scale"):
            if checked[name] not in (None, False):
                raise DomainError(f"params.{name} needs params.init_model: without a model to "
                                  "start from nothing is pre-trained", f"params.{name}")
        return checked
    if checked["pretrained_lr_scale"] is None:
        checked["pretrained_lr_scale"] = DEFAULT_PRETRAINED_LR_SCALE
    return checked


# ---------------------------------------------------------------- architecture

def _value_text(name: str, value: Any) -> str:
    if name == "image_size":
        return "×".join(str(side) for side in value)
    return str(value)


def architecture_text(kind: str, params: dict[str, Any],
                      names: Optional[Sequence[str]] = None) -> str:
    """'image size 64×64, depth 3, ...' of the architecture fields ``names`` (all of the
    kind's when None)."""
    return ", ".join(f"{FIELD_WORDS[name]} {_value_text(name, params.get(name))}"
                     for name in (ARCHITECTURES[kind] if names is None else names))


def _same(a: Any, b: Any) -> bool:
    """Equal values; a size stored as a list and one given as a tuple are the same."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def architecture_differences(kind: str, model_params: dict[str, Any],
                             run_params: dict[str, Any]) -> list[str]:
    """The architecture fields in which a run's parameters differ from its model's."""
    return [name for name in ARCHITECTURES[kind]
            if not _same(model_params.get(name), run_params.get(name))]


# ---------------------------------------------------------------- the model to start from

def weights_file(job: Job) -> Optional[Path]:
    """The weights file of a training job (None when it recorded none)."""
    name = (job.result or {}).get("model")
    return Path(job.artifact_dir) / name if job.artifact_dir and name else None


def starting_job(session: Session, kind: str, job_id: int) -> Job:
    """The succeeded ``kind`` job ``job_id`` whose weights file is there, or a DomainError
    naming params.init_model that says what to choose instead."""
    job = session.get(Job, job_id)
    if job is None:
        raise DomainError(f"{FIELD}: there is no job {job_id}; choose a succeeded {kind} job "
                          "(a model of the library) or train from scratch", FIELD, status=404)
    if job.kind != kind:
        raise DomainError(f"{FIELD}: job {job_id} is of kind {job.kind}; a {kind} run starts "
                          f"only from the model of another {kind} job", FIELD)
    if job.status != "succeeded":
        raise DomainError(f"{FIELD}: job {job_id} is {job.status}, so it left no model; "
                          f"choose a succeeded {kind} job", FIELD)
    path = weights_file(job)
    if path is None or not path.is_file():
        raise DomainError(f"{FIELD}: the weights file of job {job_id} is gone (its files were "
                          "deleted); choose another model or train from scratch", FIELD)
    return job


def check_init_model(session: Session, kind: str, params: dict[str, Any]) -> None:
    """Refuse, before queueing, a run whose ``init_model`` cannot start it: unknown, not a
    succeeded job of the same kind, without weights, or of another architecture."""
    if params.get("init_model") is None:
        return
    job = starting_job(session, kind, params["init_model"])
    differ = architecture_differences(kind, job.params, params)
    if differ:
        asked = " and ".join(FIELD_WORDS[name] for name in differ)
        raise DomainError(
            f"{FIELD}: init_model {job.id} is {NOUNS[kind]} of "
            f"{architecture_text(kind, job.params)}; this run asks "
            f"{architecture_text(kind, params, differ)}: use the same {asked} or train from "
            "scratch (no init_model)", FIELD)


def model_choices(session: Session, kind: str) -> list[tuple[int, str]]:
    """(job id, '#id kind · data set · architecture') of the newest succeeded ``kind``
    jobs of every data set: the models a run of ``kind`` may start from."""
    rows = session.execute(
        select(Job, Dataset.name).outerjoin(Dataset, Job.dataset_id == Dataset.id)
        .where(Job.kind == kind, Job.status == "succeeded")
        .order_by(Job.id.desc()).limit(CHOICES_SHOWN)).all()
    return [(job.id, f"#{job.id} {kind} · {name or 'no data set'} · "
                     f"{architecture_text(kind, job.params)}") for job, name in rows]


# ---------------------------------------------------------------- classes by name

@dataclass(frozen=True)
class ClassMatch:
    """How a classifier's classes meet a run's: by name, in the run's order."""

    kept: list[str]  # classes of both: their head rows are copied
    new: list[str]  # the run's classes the model did not know: fresh rows
    dropped: list[str]  # the model's classes this run does not have

    def summary(self) -> str:
        total = len(self.kept) + len(self.new)
        text = f"kept {len(self.kept)} of {total} classes by name: {', '.join(self.kept) or '-'}"
        if self.new:
            text += f"; new: {', '.join(self.new)}"
        if self.dropped:
            text += f"; not in this data set: {', '.join(self.dropped)}"
        return text

    def to_dict(self) -> dict[str, list[str]]:
        return {"kept_classes": self.kept, "new_classes": self.new,
                "dropped_classes": self.dropped}


def match_classes(model_names: Sequence[str], run_names: Sequence[str]) -> ClassMatch:
    """The classes a model (``model_names``) and a run (``run_names``) share by name."""
    known, wanted = set(model_names), set(run_names)
    return ClassMatch(kept=[name for name in run_names if name in known],
                      new=[name for name in run_names if name not in known],
                      dropped=[name for name in model_names if name not in wanted])


def fine_tuning_record(params: dict[str, Any], pretrained_part: str,
                       **details: Any) -> Optional[dict[str, Any]]:
    """What a job's result says of its start: None from scratch, else the model, what of it
    was kept, whether ``pretrained_part`` was frozen and its learning-rate factor."""
    if params.get("init_model") is None:
        return None
    return {"init_model": params["init_model"], "pretrained_part": pretrained_part,
            "frozen": params["freeze_pretrained"],
            "pretrained_lr_scale": params["pretrained_lr_scale"], **details}
