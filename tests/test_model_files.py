"""Export and import of a model as one .safetensors file with its card (ml.model_files,
GET /api/v1/models/<id>/export, POST /api/v1/models/import) on SQLite and PostgreSQL, with
models made by real tiny trainings: export → import → inference gives the same numbers, an
imported model fine-tunes, and every file that cannot be loaded is refused with nothing
stored."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors

from app import create_server
from auth.accounts import create_token, create_user
from db import jobs as job_store
from db.session import transaction
from ml import model_files
from settings import Settings
from tests.api_client import (api, assert_error, dataset, folder, item_ids,  # noqa: F401
                              labels, server, settings)
from tests.api_client import Api
from tests.test_model_library import TINY_AUTOENCODER, library, train  # noqa: F401


def export(client, model_id: int) -> bytes:
    answer = client.get(f"/models/{model_id}/export")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.headers["Content-Disposition"].endswith('.safetensors"')
    return answer.get_data()


def upload(client, data: bytes, name: str = "model.safetensors"):
    return client.post(f"/models/import?file_name={name}", data=data,
                       content_type="application/octet-stream")


def imported(client, data: bytes, name: str = "model.safetensors") -> dict:
    answer = upload(client, data, name)
    assert answer.status_code == 201, answer.json
    return answer.json


def card_of(data: bytes) -> dict:
    length = int.from_bytes(data[:8], "little")
    return json.loads(json.loads(data[8:8 + length])["__metadata__"][model_files.CARD_KEY])


def rewritten(data: bytes, card_change=None, tensors_change=None) -> bytes:
    """The exported file with its card and/or tensors changed, as a colleague's tool might."""
    card, tensors = card_of(data), load_tensors(data)
    if card_change:
        card_change(card)
    if tensors_change:
        tensors_change(tensors)
    return save_tensors(tensors, metadata={model_files.CARD_KEY: json.dumps(card)})


def artifact(session_factory, job_id: int, name: str) -> np.ndarray:
    with session_factory() as session:
        return np.load(Path(job_store.get_job(session, job_id).artifact_dir) / name)


def infer(library, settings, kind: str, model_id: int) -> int:
    return train(library.session_factory, settings.artifacts_dir, kind, library.dataset_id,
                 {"model_job_id": model_id})


def test_export_then_import_then_infer_gives_the_same_numbers(library, settings):
    client, factory = library.client, library.session_factory
    client.call("PATCH", f"/models/{library.classifier}",
                json={"name": "Rings vs peaks", "description": "beamtime 42"})
    data = export(client, library.classifier)
    card = card_of(data)
    assert card["format_version"] == model_files.CARD_FORMAT
    assert card["kind"] == "classifier_train" and card["class_names"] == ["ring", "peak"]
    assert card["architecture"]["model"] == "resnet18"
    assert card["transform"] == {"log": True, "pmin": 1.0, "pmax": 99.0, "image_size": [16, 16]}
    assert card["source"]["model_id"] == library.classifier and "event_id" not in \
        card["parameters"]

    classifier = imported(client, data, "rings.safetensors")
    assert classifier["id"] not in (library.classifier, library.autoencoder)
    assert classifier["name"] == "Rings vs peaks" and classifier["description"] == "beamtime 42"
    assert classifier["dataset_id"] is None and classifier["class_names"] == ["ring", "peak"]
    assert classifier["kind"] == "classifier_train" and classifier["size_bytes"] > 0
    job = client.get(f"/jobs/{classifier['id']}").json
    assert job["status"] == "succeeded" and job["dataset_id"] is None
    assert job["result"]["imported_from"]["file_name"] == "rings.safetensors"
    assert job["result"]["imported_from"]["model_id"] == library.classifier

    autoencoder = imported(client, export(client, library.autoencoder))
    assert autoencoder["name"] == f"autoencoder #{library.autoencoder}"
    assert autoencoder["architecture"] == client.get(
        f"/models/{library.autoencoder}").json["architecture"]
    listed = [model["id"] for model in client.get("/models").json["models"]]
    assert listed[:2] == [autoencoder["id"], classifier["id"]]

    for kind, original, copy, files in (
            ("autoencoder_infer", library.autoencoder, autoencoder["id"],
             ("latents.npy", "errors.npy", "item_ids.npy")),
            ("classifier_infer", library.classifier, classifier["id"],
             ("probabilities.npy", "features.npy", "item_ids.npy"))):
        first = infer(library, settings, kind, original)
        second = infer(library, settings, kind, copy)
        for name in files:
            np.testing.assert_allclose(artifact(factory, second, name),
                                       artifact(factory, first, name), rtol=1e-5, atol=1e-6)
    copied = client.get(f"/jobs/{second}").json["result"]
    assert copied["label_ids"] == client.get(f"/jobs/{first}").json["result"]["label_ids"]


def test_an_imported_model_fine_tunes_on_a_data_set(library, settings):
    client = library.client
    autoencoder = imported(client, export(client, library.autoencoder))["id"]
    classifier = imported(client, export(client, library.classifier))["id"]
    tuned = train(library.session_factory, settings.artifacts_dir, "autoencoder_train",
                  library.dataset_id, {**TINY_AUTOENCODER, "init_model": autoencoder,
                                       "freeze_pretrained": True})
    assert client.get(f"/jobs/{tuned}").json["result"]["init_model"] == autoencoder
    tuned = train(library.session_factory, settings.artifacts_dir, "classifier_train",
                  library.dataset_id, {"model": "resnet18", "image_size": 16, "epochs": 1,
                                       "batch_size": 4, "val_share": 0.3,
                                       "init_model": classifier})
    record = client.get(f"/jobs/{tuned}").json["result"]["fine_tuning"]
    assert record["init_model"] == classifier and record["kept_classes"] == ["ring", "peak"]


def _set(path: str, value):
    def change(card):
        *parents, last = path.split(".")
        target = card
        for key in parents:
            target = target[key]
        target[last] = value
    return change


def _nan_in_first_weight(tensors):
    name = next(name for name, tensor in tensors.items() if tensor.dtype == np.float32)
    tensors[name] = np.full_like(tensors[name], np.nan)


def _narrower_latent(tensors):
    tensors["encoder.latent.weight"] = tensors["encoder.latent.weight"][:-1].copy()


def _renamed_tensor(tensors):
    tensors["encoder.extra.weight"] = tensors.pop("encoder.latent.bias")


REFUSALS = [  # (what the file is, how it is made from an exported autoencoder, words)
    ("corrupt bytes", lambda data: b"\x07not a model at all", ("not a safetensors file",)),
    ("truncated", lambda data: data[:20], ("not a safetensors file",)),
    ("no card", lambda data: save_tensors({"w": np.zeros(3, np.float32)}),
     ("no beamlabel card",)),
    ("card not JSON", lambda data: save_tensors(
        {"w": np.zeros(3, np.float32)}, metadata={model_files.CARD_KEY: "{oops"}),
     ("not JSON",)),
    ("newer format", lambda data: rewritten(data, _set("format_version", 99)),
     ("format 99", "newer beamlabel", "update")),
    ("unknown kind", lambda data: rewritten(data, _set("kind", "transformer_train")),
     ("transformer_train", "not a model kind")),
    ("unknown architecture", lambda data: rewritten(data, _set("parameters.depth", 60)),
     ("parameters describe no model", "depth")),
    ("architecture unlike its parameters",
     lambda data: rewritten(data, _set("architecture.latent_dim", 9)),
     ("does not match its parameters",)),
    ("wrong shapes", lambda data: rewritten(data, tensors_change=_narrower_latent),
     ("do not fit", "tensors of another shape", "encoder.latent.weight")),
    ("wrong names", lambda data: rewritten(data, tensors_change=_renamed_tensor),
     ("tensors missing", "encoder.latent.bias", "unknown tensors", "encoder.extra.weight")),
    ("NaN weights", lambda data: rewritten(data, tensors_change=_nan_in_first_weight),
     ("NaN or infinite",)),
    ("bad card name", lambda data: rewritten(data, _set("name", "two\nlines")),
     ("the card's name", "one line")),
]


def test_files_that_cannot_be_loaded_are_refused_with_nothing_stored(
        api, settings, server, dataset, monkeypatch):
    factory = server.extensions["beamlabel"].session_factory
    model = train(factory, settings.artifacts_dir, "autoencoder_train", dataset["id"],
                  TINY_AUTOENCODER)
    data = export(api, model)
    folders = sorted(settings.artifacts_dir.iterdir())
    for _what, make, words in REFUSALS:
        assert_error(upload(api, make(data)), 400, "file", *words)
    assert_error(api.post("/models/import", data={"file": (io.BytesIO(data), "m")},
                          content_type="multipart/form-data"), 415, "body",
                 "application/octet-stream")
    assert_error(upload(api, b""), 400, "file", "not a safetensors file")
    assert_error(api.get("/models/999999/export"), 404, "model_id", "does not exist")
    monkeypatch.setattr(model_files, "MAX_FILE_BYTES", len(data) - 1)
    assert_error(upload(api, data), 413, "file", "more than")
    assert [m["id"] for m in api.get("/models").json["models"]] == [model]
    assert sorted(settings.artifacts_dir.iterdir()) == folders  # no folder left behind


def test_only_a_trainer_imports_and_a_model_file_may_exceed_the_request_limit(tmp_path):
    settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,), cache_url="null://",
                        auth="accounts", secret_key="a-test-secret-key-of-enough-length",
                        max_request_mb=0.001)
    server = create_server(settings)
    try:
        with transaction(server.extensions["beamlabel"].session_factory) as session:
            callers = {}
            for role in ("viewer", "trainer"):
                user = create_user(session, "test", role, role, "correct horse battery")
                callers[role] = Api(server)
                callers[role].client.environ_base["HTTP_AUTHORIZATION"] = \
                    f"Bearer {create_token(session, user.id, 'tests')[1]}"
        too_large_for_json = b"x" * 2000  # above max_request_mb, far below a model's limit
        assert_error(upload(callers["viewer"], too_large_for_json), 403, None, "trainer")
        assert_error(upload(callers["trainer"], too_large_for_json), 400, "file",
                     "not a safetensors file")
        assert_error(callers["trainer"].post("/datasets", data=too_large_for_json,
                                             content_type="application/json"), 413, "body")
    finally:
        server.extensions["beamlabel"].engine.dispose()
