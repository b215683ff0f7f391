"""A model of the library as one file a colleague can load: a ``.safetensors`` file whose
tensors are the model's weights and whose header metadata holds, under ``CARD_KEY``, a JSON
card: format version, kind, architecture, training parameters (with the transform: log,
pmin, pmax, image size), class names, name, description and where it came from.

Importing a file makes a new model: a succeeded job of the card's kind, without a data set,
whose folder holds the weights as that kind's inference and fine-tuning load them. A file
that cannot be loaded is refused, saying why, before anything is stored. Nothing is fetched.

The card is read from the file's header without torch; the weights are converted with
torch, imported only inside the functions that need it (the web process calls them when a
model is exported or imported, never at import time).
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Optional

from sqlalchemy.orm import Session

from db import jobs as job_store
from db.models import utcnow
from errors import DomainError
from ml import model_library
from ml.classifier import MAX_WEIGHTS_BYTES
from ml.init_model import architecture_differences, architecture_text, weights_file
from ml.jobs import new_artifact_dir
from ml.kinds import JOB_KINDS

if TYPE_CHECKING:
    import torch
    from torch import nn

CARD_KEY = "beamlabel_card"
CARD_FORMAT = 1  # raise when the card changes so that an older server refuses it
SUFFIX = ".safetensors"
MAX_FILE_BYTES = MAX_WEIGHTS_BYTES
MAX_HEADER_BYTES = 100 * 2**20  # the safetensors format's own limit
FIELD = "file"
WEIGHTS_NAME = "model.pt"
# Training parameters that name things of the server the model came from (its jobs, files
# and labels) or only make sense with them: left out of the card.
LOCAL_PARAMS = ("init_model", "pretrained_lr_scale", "freeze_pretrained", "weights_path",
                "freeze_backbone", "event_id")
TRANSFORM_PARAMS = ("log", "pmin", "pmax", "image_size")
COPY_CHUNK = 2**20


def _refusal(message: str, status: int = 400) -> DomainError:
    return DomainError(f"{FIELD}: {message}", FIELD, status=status)


# ---------------------------------------------------------------- export

def model_card(facts: model_library.ModelFacts) -> dict[str, Any]:
    """The card of a model: everything but its weights."""
    params = facts.parameters
    return {
        "format_version": CARD_FORMAT, "kind": facts.kind, "architecture": facts.architecture,
        "parameters": {name: value for name, value in params.items()
                       if name not in LOCAL_PARAMS},
        "transform": {name: params[name] for name in TRANSFORM_PARAMS},
        "class_names": facts.class_names, "name": facts.name, "description": facts.description,
        "source": {"model_id": facts.id, "dataset_name": facts.dataset_name,
                   "learned_from_event_id": facts.learned_from_event_id,
                   "metrics": facts.metrics, "trained_by": facts.owner,
                   "finished_at": facts.finished_at.isoformat() if facts.finished_at else None},
    }


def _saved_model(kind: str, path: Path) -> "nn.Module":
    if kind == "autoencoder_train":
        from ml.autoencoder_train import load_model
        return load_model(path)
    from ml.classifier import load_classifier
    return load_classifier(path)[0]


def export_model(session: Session, model_id: int) -> tuple[str, bytes]:
    """(file name, bytes) of model ``model_id`` as one safetensors file with its card."""
    from safetensors.torch import save

    facts = model_library.model_facts(session, model_id)
    path = weights_file(model_library.model_job(session, model_id))
    if path is None or not path.is_file():
        raise DomainError(f"model {model_id} has no weights file any more (its files were "
                          "deleted); it cannot be exported", "model_id", status=404)
    state = {name: tensor.detach().contiguous()
             for name, tensor in _saved_model(facts.kind, path).state_dict().items()}
    data = save(state, metadata={CARD_KEY: json.dumps(model_card(facts))})
    stem = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_"
                   for c in facts.name).strip("._")
    return f"{stem or f'model-{model_id}'}{SUFFIX}", data


# ---------------------------------------------------------------- the card of a file

def _header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file (torch-free), or a refusal."""
    not_safetensors = ("is not a safetensors file ({}); export the model from beamlabel's "
                       "Models page or GET /api/v1/models/<id>/export")
    size = path.stat().st_size
    with open(path, "rb") as stream:
        length = int.from_bytes(stream.read(8), "little") if size >= 8 else 0
        if not 2 <= length <= min(MAX_HEADER_BYTES, size - 8):
            raise _refusal(not_safetensors.format("its first 8 bytes do not give the length "
                                                  "of a header inside the file"))
        try:
            header = json.loads(stream.read(length).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _refusal(not_safetensors.format("its header is not JSON")) from None
    if not isinstance(header, dict):
        raise _refusal(not_safetensors.format("its header is not a JSON object"))
    return header


def read_card(path: Path) -> dict[str, Any]:
    """The checked card in the header of the safetensors file at ``path``, or a refusal."""
    metadata = _header(path).get("__metadata__")
    if not isinstance(metadata, dict) or not isinstance(metadata.get(CARD_KEY), str):
        raise _refusal(f"the safetensors file has no beamlabel card (no '{CARD_KEY}' in its "
                       "metadata), so nothing says which model its weights are for; export "
                       "the model from beamlabel")
    try:
        card = json.loads(metadata[CARD_KEY])
    except ValueError:
        raise _refusal(f"the file's card ('{CARD_KEY}') is not JSON") from None
    if not isinstance(card, dict):
        raise _refusal("the file's card is not a JSON object")
    version = card.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _refusal("the file's card has no format_version (a whole number from 1)")
    if version > CARD_FORMAT:
        raise _refusal(f"the file's card has format {version}, made by a newer beamlabel; this "
                       f"server reads format {CARD_FORMAT} and older: update it first")
    kinds = model_library.model_kinds()
    if card.get("kind") not in kinds:
        raise _refusal(f"the card's kind {str(card.get('kind'))[:50]!r} is not a model kind "
                       f"this server knows ({', '.join(kinds)})")
    return card


def _class_names(card: dict[str, Any]) -> Optional[list[str]]:
    if card["kind"] != "classifier_train":
        return None
    names = card.get("class_names")
    if (not isinstance(names, list) or len(names) < 2 or len(set(names)) != len(names)
            or not all(isinstance(name, str) and name for name in names)):
        raise _refusal("a classifier's card needs class_names: 2 or more distinct names, in "
                       "the order of its outputs")
    return names


def card_parameters(card: dict[str, Any]) -> dict[str, Any]:
    """The training parameters of the card's model checked by its kind, or a refusal naming
    the architecture or parameter this server cannot build."""
    kind, given = card["kind"], card.get("parameters")
    if not isinstance(given, dict):
        raise _refusal("the card has no parameters object")
    try:
        params = JOB_KINDS[kind].check_params(
            {name: value for name, value in given.items() if name not in LOCAL_PARAMS})
    except DomainError as error:
        raise _refusal(f"the card's parameters describe no model this server can build: "
                       f"{error}") from None
    architecture = card.get("architecture")
    if not isinstance(architecture, dict) or architecture_differences(
            kind, architecture, params):
        raise _refusal(f"the card's architecture {str(architecture)[:200]} does not match its "
                       f"parameters ({architecture_text(kind, params)})")
    return params


# ---------------------------------------------------------------- the weights of a file

def _empty_model(kind: str, params: dict[str, Any],
                 class_names: Optional[list[str]]) -> "nn.Module":
    if kind == "autoencoder_train":
        from ml.autoencoder import ConvAutoencoder
        from ml.kinds.autoencoder import spec_of
        return ConvAutoencoder(spec_of(params))
    from ml.classifier import create_classifier
    return create_classifier(params["model"], len(class_names))


def _fit_problems(expected: dict[str, "torch.Tensor"],
                  given: dict[str, "torch.Tensor"]) -> list[str]:
    missing = [name for name in expected if name not in given]
    unknown = [name for name in given if name not in expected]
    misshapen = [f"{name} {list(given[name].shape)} instead of {list(expected[name].shape)}"
                 for name in given if name in expected
                 and given[name].shape != expected[name].shape]
    return [f"{len(found)} {what} (e.g. {found[0]})" for what, found in (
        ("tensors missing", missing), ("unknown tensors", unknown),
        ("tensors of another shape", misshapen)) if found]


def loaded_model(path: Path, kind: str, params: dict[str, Any],
                 class_names: Optional[list[str]]) -> "nn.Module":
    """The card's model built empty and loaded strictly with the file's weights, or a
    refusal: unreadable tensors, names or shapes that do not fit, NaN or infinite values."""
    import torch
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as error:  # any decoder error means the same to the user
        raise _refusal(f"its tensors cannot be read ({type(error).__name__}: "
                       f"{str(error)[:200]})") from None
    model = _empty_model(kind, params, class_names)
    problems = _fit_problems(model.state_dict(), state)
    if problems:
        raise _refusal(f"its weights do not fit the card's architecture "
                       f"({architecture_text(kind, params)}): {'; '.join(problems)}")
    broken = [name for name, tensor in state.items()
              if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if broken:
        raise _refusal(f"{len(broken)} weight tensors hold NaN or infinite values (e.g. "
                       f"{broken[0]}); the model it was exported from is broken")
    model.load_state_dict(state, strict=True)
    return model.eval()


def _save_weights(folder: Path, kind: str, model: "nn.Module", params: dict[str, Any]) -> None:
    """The weights as the kind's inference and fine-tuning load them."""
    if kind == "autoencoder_train":
        from ml.autoencoder_train import save_model
        from ml.kinds.autoencoder import spec_of
        save_model(folder / WEIGHTS_NAME, model, spec_of(params))
    else:
        from ml.classifier import save_classifier
        save_classifier(folder / WEIGHTS_NAME, model, params["model"],
                        tuple(params["image_size"]))


# ---------------------------------------------------------------- import

def _copy_limited(stream: BinaryIO, target: Path) -> None:
    """Copy an upload to ``target``; a 413 refusal past MAX_FILE_BYTES."""
    written = 0
    with open(target, "wb") as out:
        while chunk := stream.read(COPY_CHUNK):
            written += len(chunk)
            if written > MAX_FILE_BYTES:
                raise _refusal(f"the file holds more than {MAX_FILE_BYTES / 2**30:.3g} GiB, the "
                               "most a model file may hold", status=413)
            out.write(chunk)


def _result(card: dict[str, Any], file_name: str, params: dict[str, Any],
            class_names: Optional[list[str]]) -> dict[str, Any]:
    source = card.get("source") if isinstance(card.get("source"), dict) else {}
    result: dict[str, Any] = {
        "model": WEIGHTS_NAME, "init_model": None,
        "imported_from": {"file_name": file_name, "model_id": source.get("model_id"),
                          "name": card.get("name"), "dataset_name": source.get("dataset_name"),
                          "metrics": source.get("metrics"),
                          "format_version": card["format_version"]}}
    if class_names is not None:  # label ids are per data set: an imported model has none
        result.update(label_names=class_names, label_ids=None, model_name=params["model"],
                      image_size=list(params["image_size"]))
    return result


def _name_model(session: Session, model_id: int, card: dict[str, Any]) -> None:
    """The card's name and description on the new model (its kind and number without)."""
    name, description = card.get("name"), card.get("description")
    name = name if isinstance(name, str) and name.strip() else None
    description = description if isinstance(description, str) else None
    if name is None and description is None:
        return
    try:
        model_library.describe_model(session, model_id, name, description)
    except DomainError as error:
        raise _refusal(f"the card's {error}") from None


def import_model(session: Session, stream: BinaryIO, file_name: str, owner: str,
                 artifacts_dir: Path) -> int:
    """Store the model file read from ``stream`` as a new model (a succeeded job of its
    card's kind, without a data set, owned by ``owner``); its id. Refused (400, 413) with
    nothing stored when the file cannot be loaded. The caller owns the transaction."""
    file_name = Path(str(file_name or "").replace("\x00", "")).name[:200] or "upload"
    artifacts_dir = Path(artifacts_dir)
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=artifacts_dir, prefix="import-") as scratch:
        path = Path(scratch) / "model.safetensors"
        _copy_limited(stream, path)
        card = read_card(path)
        kind, class_names = card["kind"], _class_names(card)
        params = card_parameters(card)
        model = loaded_model(path, kind, params, class_names)
    job = job_store.add_job(session, kind, None, params, owner)
    job.started_at = utcnow()
    job_store.finish(session, job.id, "succeeded", _result(card, file_name, params, class_names))
    _name_model(session, job.id, card)
    folder = new_artifact_dir(artifacts_dir, job.id)
    job.artifact_dir = str(folder)
    try:
        _save_weights(folder, kind, model, params)
        session.flush()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return job.id
